//! The Kubernetes `Executor`: one pod per build (or stage), steps in its containers through
//! the agent link, taking a pod over after a controller restart; `kanikoBuild` goes to the
//! pod's `PodImageBuilder` (the image-build code, which starts Kaniko pods as executors, is
//! not imported here), and its `ImageRecords` (what a build's image steps did).

pub(crate) mod executor;
pub(crate) mod records;
