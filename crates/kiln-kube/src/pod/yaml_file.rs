//! `agent { kubernetes { yamlFile 'ci/pod.yaml' } }`: the file is read from the build's
//! workspace on the controller's side before the pod is built (the server's prepared
//! workspace, i.e. the job's checkout at the build's commit; `kiln run`'s local workspace).
//! Its problems are diagnostics at the `yamlFile` value in the Jenkinsfile; problems inside
//! the file name it with line and column (see [`PodText::file`]).

use crate::pod::text::PodText;
use kiln_diagnostics::Diagnostic;
use kiln_types::KubernetesSpec;
use std::path::{Component, Path};

/// The contents of the agent's `yamlFile`, read from `workspace` (`None` without one).
/// The path must stay inside the workspace (no absolute path, no `..`, no symlink out).
pub fn read_yaml_file(
    agent: &KubernetesSpec,
    workspace: &Path,
) -> Result<Option<PodText>, Diagnostic> {
    let Some(value) = &agent.yaml_file else {
        return Ok(None);
    };
    let error = |message: String, label: &str| {
        Diagnostic::error("kube-yaml-file", message).with_primary(value.span, label)
    };
    let Some(name) = value.text.clone() else {
        return Err(error(
            "`yamlFile` must be a string kiln can read before the build starts".to_owned(),
            "not a plain string",
        ));
    };
    let relative = Path::new(&name);
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if name.is_empty() || !inside {
        return Err(error(
            format!("`yamlFile` `{name}` must be a relative path inside the workspace"),
            "outside the workspace",
        ));
    }
    let path = workspace.join(relative);
    let escapes = match (path.canonicalize(), workspace.canonicalize()) {
        (Ok(file), Ok(root)) => !file.starts_with(root),
        _ => false,
    };
    if escapes {
        return Err(error(
            format!("`yamlFile` `{name}` leads outside the workspace (a symbolic link)"),
            "outside the workspace",
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file in the workspace".to_owned(),
            _ => e.to_string(),
        };
        error(
            format!("cannot read `yamlFile` `{name}`: {why}"),
            "read from here",
        )
        .with_note(format!("the workspace is {}", workspace.display()))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        error(
            format!(
                "`yamlFile` `{name}` is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "read from here",
        )
    })?;
    Ok(Some(PodText::file(text, name, value.span)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(text: &str) -> (KubernetesSpec, String) {
        let jenkinsfile = format!(
            "pipeline {{\n  agent {{\n    kubernetes {{\n      {text}\n    }}\n  }}\n  stages {{ stage('s') {{ steps {{ sh 'true' }} }} }}\n}}\n"
        );
        let (document, _) = kiln_model::load(&jenkinsfile);
        let Some(kiln_model::Document::Declarative(pipeline)) = document else {
            panic!("{jenkinsfile}");
        };
        let spec = kiln_plan::agent_spec(&pipeline.agent, &mut |e| e.as_plain_str());
        let kiln_types::AgentSpecKind::Kubernetes(k) = spec.kind else {
            panic!("{jenkinsfile}");
        };
        (*k, jenkinsfile)
    }

    fn read(text: &str, dir: &Path) -> Result<Option<PodText>, (String, String)> {
        let (agent, source) = agent(text);
        read_yaml_file(&agent, dir).map_err(|d| {
            let span = d.primary_span();
            (d.message.clone(), source[span.range()].to_owned())
        })
    }

    #[test]
    fn the_file_is_read_from_the_workspace_and_paths_stay_inside_it() {
        let dir = tempfile::Builder::new()
            .prefix("kiln-kube-yaml-file-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("ci")).unwrap();
        std::fs::write(dir.path().join("ci/pod.yaml"), "spec: {}\n").unwrap();
        let text = read("yamlFile 'ci/pod.yaml'", dir.path()).unwrap().unwrap();
        assert_eq!(text.text, "spec: {}\n");
        assert!(read("yaml 'spec: {}'", dir.path()).unwrap().is_none());
        let missing = read("yamlFile 'ci/nope.yaml'", dir.path()).unwrap_err();
        assert_eq!(
            missing,
            (
                "cannot read `yamlFile` `ci/nope.yaml`: no such file in the workspace".to_owned(),
                "'ci/nope.yaml'".to_owned()
            )
        );
        for outside in ["/etc/hostname", "../pod.yaml", "ci/../../pod.yaml"] {
            let e = read(&format!("yamlFile '{outside}'"), dir.path()).unwrap_err();
            assert!(e.0.contains("inside the workspace"), "{e:?}");
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("ci/link.yaml")).unwrap();
        let e = read("yamlFile 'ci/link.yaml'", dir.path()).unwrap_err();
        assert!(e.0.contains("leads outside the workspace"), "{e:?}");
        let e = read("yamlFile \"ci/${env.X}.yaml\"", dir.path()).unwrap_err();
        assert!(e.0.contains("must be a string"), "{e:?}");
    }
}
