//! Globals that Jenkins plugins give scripts and kiln does not: a script reading one fails
//! naming the plugin, as a step kiln does not provide does, instead of Groovy's bare
//! "No such property".

/// Each global with the plugin it comes from.
const PLUGIN_GLOBALS: &[(&str, &str)] = &[
    ("rtBuildInfo", "Artifactory plugin"),
    ("openshift", "OpenShift Client plugin"),
    (
        "pullRequest",
        "GitHub plugin for pipelines (pipeline-github)",
    ),
    ("githubPRComment", "GitHub Pull Request Builder plugin"),
    ("manager", "Groovy Postbuild plugin"),
    (
        "jenkins",
        "Jenkins core API (not reachable from sandboxed scripts)",
    ),
    (
        "Jenkins",
        "Jenkins core API (not reachable from sandboxed scripts)",
    ),
    (
        "Hudson",
        "Jenkins core API (not reachable from sandboxed scripts)",
    ),
    ("kubernetes", "Kubernetes plugin"),
    ("dockerfile", "Docker Pipeline plugin"),
    ("gitlabMergeRequestLabels", "GitLab plugin"),
];

/// The plugin global `name` comes from, when kiln knows it.
pub(crate) fn plugin_of(name: &str) -> Option<&'static str> {
    PLUGIN_GLOBALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

/// What reading the global `name` fails with.
pub(crate) fn missing_property_message(name: &str) -> String {
    match plugin_of(name) {
        Some(plugin) => format!(
            "No such property: {name} (`{name}` is a global of the {plugin}, which kiln does not provide)"
        ),
        None => format!("No such property: {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_globals_name_their_plugin() {
        assert_eq!(
            missing_property_message("rtBuildInfo"),
            "No such property: rtBuildInfo (`rtBuildInfo` is a global of the Artifactory plugin, which kiln does not provide)"
        );
        assert_eq!(missing_property_message("NOPE"), "No such property: NOPE");
    }
}
