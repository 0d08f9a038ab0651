//! Image builds: `kanikoBuild` in Kaniko pods (one per platform, the multi-arch index pushed
//! with the registry client), what a build's image steps did (so a resumed build does not
//! build again), and `dockerfile { }` agents' images.

pub(crate) mod build;
pub(crate) mod dockerfile;
pub(crate) mod kaniko;
pub(crate) mod records;
