//! The `Artifactory` global of the Artifactory plugin's scripted API:
//! `Artifactory.server('id')`, `Artifactory.newServer(url: ..., credentialsId: ...)`,
//! `Artifactory.newBuildInfo()`, `Artifactory.newMavenBuild()`/`newGradleBuild()` and the
//! objects they return (a server's `upload`/`download`/`publishBuildInfo`, a build's
//! `resolver`/`deployer`/`run`).
//!
//! As docker objects are (see `docker.rs`), these objects are maps, marked with
//! [`ARTIFACTORY_KEY`], so a script reads and sets their properties (`rtMaven.tool =
//! 'maven'`, `buildInfo.env.capture = true`); every method call on one goes to the host as
//! the step [`ARTIFACTORY_STEP`], which does the work.

use super::docker::HostObjects;

/// The step the host serves for every method of an Artifactory object.
pub const ARTIFACTORY_STEP: &str = "__kiln_artifactory";

/// The key marking an Artifactory object, and what it is (`Artifactory`, `server`,
/// `buildInfo`, `maven`, ...).
pub const ARTIFACTORY_KEY: &str = "$artifactory";

/// The objects of the `Artifactory` global.
pub(crate) const ARTIFACTORY: HostObjects = HostObjects {
    key: ARTIFACTORY_KEY,
    global: "Artifactory",
};
