//! Image builds: `kanikoBuild` in Kaniko pods (one per platform, the multi-arch index pushed
//! with the registry client, what each step did recorded through `ImageRecords` so a resumed
//! build does not build again), and `dockerfile { }` agents' images.

pub(crate) mod build;
pub(crate) mod dockerfile;
pub(crate) mod kaniko;
