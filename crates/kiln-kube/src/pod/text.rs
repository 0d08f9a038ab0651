//! Pod YAML written by users (the pipeline's `yaml '''...'''`, a `yamlFile`, a template's
//! `yaml`), parsed into k8s-openapi's `Pod` with problems positioned in the Jenkinsfile.

use crate::config::line_and_column;
use crate::config::template::PodTemplate;
use crate::pod::build::AgentRequest;
use k8s_openapi::api::core::v1::Pod;
use kiln_diagnostics::{Diagnostic, SourceFile, Span};
use kiln_types::AgentValue;
use kiln_yaml::NodeKind;
use std::collections::BTreeSet;

/// Pod YAML and where its text came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodText {
    pub text: String,
    pub origin: PodTextOrigin,
}

/// Where a pod YAML text is, so its line and column become a place in the Jenkinsfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodTextOrigin {
    /// Written verbatim in the Jenkinsfile (a string literal without escapes), starting at
    /// this byte offset: positions map exactly.
    Inline { start: u32 },
    /// The value of an expression at `span` (escapes or interpolation): problems point at
    /// the expression and name the line and column inside the YAML.
    Expression { span: Span },
    /// A file (`yamlFile 'pod.yaml'`) named at `span` in the Jenkinsfile.
    File { name: String, span: Span },
}

impl PodText {
    /// The text of an agent's value (`None` without one), mapped exactly when it is
    /// written verbatim in the Jenkinsfile.
    pub fn from_value(value: &AgentValue) -> Option<PodText> {
        let text = value.text.clone()?;
        let origin = match value.verbatim_at {
            Some(start) => PodTextOrigin::Inline { start },
            None => PodTextOrigin::Expression { span: value.span },
        };
        Some(PodText { text, origin })
    }

    /// The value of an evaluated expression.
    pub fn evaluated(text: String, span: Span) -> PodText {
        PodText {
            text,
            origin: PodTextOrigin::Expression { span },
        }
    }

    /// The contents of a `yamlFile`.
    pub fn file(text: String, name: impl Into<String>, span: Span) -> PodText {
        PodText {
            text,
            origin: PodTextOrigin::File {
                name: name.into(),
                span,
            },
        }
    }

    /// The Jenkinsfile span of a span in this text.
    fn span(&self, at: Option<Span>) -> Span {
        match (&self.origin, at) {
            (PodTextOrigin::Inline { start }, Some(s)) => s.shift(*start),
            (PodTextOrigin::Inline { start }, None) => {
                Span::new(*start, *start + u32::try_from(self.text.len()).unwrap_or(0))
            }
            (PodTextOrigin::Expression { span } | PodTextOrigin::File { span, .. }, _) => *span,
        }
    }

    /// "at line 3, column 7 of the pod YAML", or for a file "at ci/pod.yaml:3:7" (or "in
    /// ci/pod.yaml" when the problem has no place).
    fn place(&self, at: Option<Span>) -> Option<String> {
        match (&self.origin, at) {
            (PodTextOrigin::File { name, .. }, Some(at)) => {
                let lc = SourceFile::new("", self.text.as_str()).line_col(at.start);
                Some(format!("at {name}:{}:{}", lc.line, lc.col))
            }
            (PodTextOrigin::File { name, .. }, None) => Some(format!("in {name}")),
            (_, at) => Some(format!(
                "at {} of the pod YAML",
                line_and_column(&self.text, at?)
            )),
        }
    }

    fn diagnostic(&self, message: String, label: &str, at: Option<Span>) -> Diagnostic {
        let mut d = Diagnostic::error("kube-pod-yaml", message).with_primary(self.span(at), label);
        if let Some(place) = self.place(at) {
            d = d.with_note(place);
        }
        d
    }
}

/// Parses pod YAML into a `Pod`: YAML errors, wrong types and unknown fields all become
/// diagnostics (every unknown field is reported, not just the first).
pub(crate) fn parse_pod(text: &PodText) -> Result<Pod, Vec<Diagnostic>> {
    let tree = kiln_yaml::parse_tree(&text.text).map_err(|e| {
        vec![text.diagnostic(
            format!("invalid pod YAML: {}", e.reason),
            "in this YAML",
            e.span,
        )]
    })?;
    let empty = match &tree.kind {
        NodeKind::Null => true,
        NodeKind::Map(entries) => entries.is_empty(),
        _ => {
            return Err(vec![text.diagnostic(
                "the pod YAML must be a mapping (a Pod manifest)".to_string(),
                "not a mapping",
                Some(tree.span),
            )]);
        }
    };
    let pod: Pod = if empty {
        Pod::default()
    } else {
        kiln_yaml::parse_typed(&text.text).map_err(|e| {
            vec![text.diagnostic(format!("invalid pod: {}", e.reason), "wrong here", e.span)]
        })?
    };
    let mut unknown = Vec::new();
    kiln_yaml::unknown_fields(
        &tree,
        &serde_json::to_value(&pod).unwrap_or_default(),
        "",
        &mut unknown,
    );
    // `apiVersion` and `kind` are not fields of the typed Pod but belong in a manifest.
    unknown.retain(|u| !(u.path.is_empty() && matches!(u.key.as_str(), "apiVersion" | "kind")));
    if unknown.is_empty() {
        return Ok(pod);
    }
    Err(unknown
        .into_iter()
        .map(|u| {
            let within = if u.path.is_empty() {
                "the pod".to_string()
            } else {
                format!("`{}`", u.path)
            };
            let mut d = text.diagnostic(
                format!("unknown field `{}` in {within}", u.key),
                "unknown field",
                Some(u.span),
            );
            if let Some(s) = suggest(&u.path, &u.key) {
                d = d.with_note(format!("help: did you mean `{s}`?"));
            }
            d
        })
        .collect())
}

/// Suggestions for misspelt fields of the objects people write most.
fn suggest(path: &str, key: &str) -> Option<&'static str> {
    const POD: &[&str] = &["metadata", "spec"];
    const META: &[&str] = &["name", "labels", "annotations", "namespace"];
    const SPEC: &[&str] = &[
        "containers",
        "initContainers",
        "volumes",
        "nodeSelector",
        "affinity",
        "tolerations",
        "imagePullSecrets",
        "serviceAccountName",
        "securityContext",
        "restartPolicy",
        "activeDeadlineSeconds",
        "hostAliases",
        "dnsConfig",
        "priorityClassName",
        "runtimeClassName",
        "terminationGracePeriodSeconds",
        "automountServiceAccountToken",
        "shareProcessNamespace",
    ];
    const CONTAINER: &[&str] = &[
        "name",
        "image",
        "imagePullPolicy",
        "command",
        "args",
        "env",
        "envFrom",
        "resources",
        "securityContext",
        "workingDir",
        "volumeMounts",
        "ports",
        "tty",
        "stdin",
        "lifecycle",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
    ];
    let last = path.rsplit('.').next().unwrap_or("");
    let fields = if path.is_empty() {
        POD
    } else if path == "metadata" {
        META
    } else if path == "spec" {
        SPEC
    } else if last.starts_with("containers[") || last.starts_with("initContainers[") {
        CONTAINER
    } else {
        return None;
    };
    kiln_diagnostics::did_you_mean(key, fields.iter().copied())
}

/// A template's `yaml` as a pod (templates are checked when the configuration loads, so this
/// fails only for configurations built in code).
pub(crate) fn template_yaml(t: &PodTemplate) -> Result<Option<Pod>, String> {
    let Some(text) = &t.yaml else { return Ok(None) };
    let text = PodText::evaluated(text.clone(), Span::default());
    parse_pod(&text).map(Some).map_err(|d| {
        d.into_iter()
            .map(|d| format!("{} ({})", d.message, d.notes.join("; ")))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Names and images every container needs, checked on the merged pod.
pub(crate) fn check_names(pod: &Pod, agent: &AgentRequest, diags: &mut Vec<Diagnostic>) {
    let span = agent.yaml.as_ref().map_or(agent.span, |y| match &y.origin {
        PodTextOrigin::Inline { start } => {
            Span::new(*start, *start + u32::try_from(y.text.len()).unwrap_or(0))
        }
        PodTextOrigin::Expression { span } | PodTextOrigin::File { span, .. } => *span,
    });
    let Some(spec) = pod.spec.as_ref().filter(|s| !s.containers.is_empty()) else {
        diags.push(
            Diagnostic::error("kube-pod", "the pod has no containers")
                .with_primary(span, "no template or YAML gives it one")
                .with_note("help: name a pod template with `inheritFrom`, or list `spec.containers` in `yaml`"),
        );
        return;
    };
    let mut seen = BTreeSet::new();
    let init = spec.init_containers.iter().flatten();
    for c in spec.containers.iter().chain(init) {
        if !is_dns_label(&c.name) {
            diags.push(
                Diagnostic::error("kube-pod", format!("container name `{}` is not a valid name", c.name))
                    .with_primary(span, "in this pod")
                    .with_note("a container name is a DNS label: at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
            );
        }
        if !seen.insert(c.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    "kube-pod",
                    format!("two containers are called `{}`", c.name),
                )
                .with_primary(span, "in this pod"),
            );
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            diags.push(
                Diagnostic::error("kube-pod", format!("container `{}` has no image", c.name))
                    .with_primary(span, "in this pod")
                    .with_note("help: set `image:` in the YAML or in the pod template"),
            );
        }
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
