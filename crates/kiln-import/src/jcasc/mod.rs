//! A Jenkins Configuration-as-Code file (`jenkins.yaml`) read through kiln-yaml into the
//! sections of kiln.yaml it has an equivalent for ([`Controller`]); every other section is
//! a [`Finding`].

mod credentials;
mod kubernetes;
mod services;

use crate::yaml_out::{Entry, Item, Yaml};
use crate::{Finding, ImportError};
use kiln_diagnostics::{RenderOptions, SourceFile, render};
use kiln_yaml::{Node, NodeKind};
use std::path::Path;

/// What a JCasC file gives kiln.yaml, as YAML ready to write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Controller {
    /// `unclassified.location.url`.
    pub external_url: Option<String>,
    /// `jenkins.numExecutors`.
    pub local_capacity: Option<i64>,
    /// `jenkins.globalNodeProperties[].envVars`: `NAME=value` entries.
    pub local_env: Vec<String>,
    /// `executors.kubernetes` from `jenkins.clouds[].kubernetes`.
    pub kubernetes: Option<Vec<Entry>>,
    pub libraries: Vec<Item>,
    pub credentials: Vec<Item>,
    pub mail: Option<Vec<Entry>>,
    pub slack: Option<Vec<Entry>>,
    pub sonarqube: Vec<Item>,
    pub tools: Vec<Item>,
    /// `webhook_secret_env: NAME` (or `_file`) for jobs built on a forge's push webhook,
    /// from `unclassified.gitHubPluginConfig.hookSecretConfigs`.
    pub webhook_secret: Option<Entry>,
    pub findings: Vec<Finding>,
}

/// Reads a JCasC file; `path` names it in findings and errors.
pub fn read(path: &Path, text: &str) -> Result<Controller, ImportError> {
    let name = path.display().to_string();
    let root = kiln_yaml::parse_tree(text).map_err(|e| ImportError::Jcasc {
        path: path.to_path_buf(),
        rendered: render(
            &e.diagnostic(),
            &SourceFile::new(name.clone(), text),
            RenderOptions::default(),
        ),
    })?;
    let mut r = Reader {
        file: SourceFile::new(name, text),
        out: Controller::default(),
        admin_address: None,
        hook_secret: None,
    };
    for (key, value) in entries(&root) {
        let key = key.scalar_text().unwrap_or_default();
        match key.as_str() {
            "jenkins" => r.jenkins(value),
            "unclassified" => r.unclassified(value),
            "credentials" => r.credentials(value),
            "tool" => r.tools(value),
            "security" | "appearance" => r.skip(
                value,
                &key,
                "not imported: kiln has no equivalent (see docs/security.md)",
            ),
            _ => r.skip(value, &key, "not imported: kiln has no equivalent"),
        }
    }
    if let (Some(mail), Some(from)) = (r.out.mail.as_mut(), r.admin_address.take()) {
        mail.push(entry("from", from));
    }
    if let Some((id, node)) = r.hook_secret.take() {
        services::webhook_secret(&mut r, &id, &node);
    }
    Ok(r.out)
}

/// The state of one read: the file (for places) and what was found so far.
pub(crate) struct Reader {
    file: SourceFile,
    pub(crate) out: Controller,
    /// `unclassified.location.adminAddress`: the mailer's sender.
    pub(crate) admin_address: Option<String>,
    /// The credential of GitHub's webhook secret (`hookSecretConfigs[0].credentialsId`).
    pub(crate) hook_secret: Option<(String, Node)>,
}

impl Reader {
    /// `jenkins.yaml:12` for a node.
    pub(crate) fn place(&self, node: &Node) -> String {
        format!(
            "{}:{}",
            self.file.name(),
            self.file.line_col(node.span.start).line
        )
    }

    pub(crate) fn finding(
        &mut self,
        node: &Node,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) {
        let place = self.place(node);
        self.out.findings.push(Finding::new(place, what, reason));
    }

    fn skip(&mut self, node: &Node, what: &str, reason: &str) {
        self.finding(node, format!("`{what}`"), reason);
    }

    fn jenkins(&mut self, node: &Node) {
        for (key, value) in entries(node) {
            let key = key.scalar_text().unwrap_or_default();
            match key.as_str() {
                "clouds" => self.clouds(value),
                "numExecutors" => {
                    if let NodeKind::Int(n) = value.kind
                        && n > 0
                    {
                        self.out.local_capacity = i64::try_from(n).ok();
                    }
                }
                "globalNodeProperties" => self.node_properties(value),
                // Jenkins' own UI and bookkeeping: nothing to carry.
                "systemMessage"
                | "mode"
                | "labelString"
                | "markupFormatter"
                | "quietPeriod"
                | "scmCheckoutRetryCount"
                | "slaveAgentPort"
                | "agentProtocols"
                | "disableRememberMe"
                | "primaryView"
                | "views"
                | "myViewsTabBar"
                | "viewsTabBar"
                | "crumbIssuer"
                | "remotingSecurity"
                | "projectNamingStrategy"
                | "noUsageStatistics"
                | "updateCenter" => {
                    self.skip(
                        value,
                        &format!("jenkins.{key}"),
                        "not imported: a Jenkins UI or controller setting kiln does not have",
                    );
                }
                "securityRealm" | "authorizationStrategy" => self.skip(
                    value,
                    &format!("jenkins.{key}"),
                    "not imported: kiln's API is guarded by tokens with roles (server.tokens)",
                ),
                "nodes" => self.skip(
                    value,
                    "jenkins.nodes",
                    "not imported: kiln runs builds on its own machine or in Kubernetes pods",
                ),
                _ => self.skip(
                    value,
                    &format!("jenkins.{key}"),
                    "not imported: kiln has no equivalent",
                ),
            }
        }
    }

    fn clouds(&mut self, node: &Node) {
        for (i, cloud) in items(node).iter().enumerate() {
            match cloud.get("kubernetes") {
                Some(k) if self.out.kubernetes.is_none() => {
                    self.out.kubernetes = Some(kubernetes::cloud(self, k));
                }
                Some(k) => self.finding(
                    k,
                    format!("Kubernetes cloud #{}", i + 1),
                    "not imported: kiln has one Kubernetes section (the first cloud is imported)",
                ),
                None => {
                    let kind = entries(cloud)
                        .first()
                        .and_then(|(k, _)| k.scalar_text())
                        .unwrap_or_default();
                    self.finding(
                        cloud,
                        format!("cloud `{kind}`"),
                        "not imported: kiln's builds run locally or in Kubernetes",
                    );
                }
            }
        }
    }

    fn node_properties(&mut self, node: &Node) {
        for p in items(node) {
            match p.get("envVars") {
                Some(vars) => {
                    for v in items(vars.get("env").unwrap_or(vars)) {
                        if let Some(k) = text(v, "key") {
                            let value = text(v, "value").unwrap_or_default();
                            self.out.local_env.push(format!("{k}={value}"));
                        }
                    }
                }
                None => self.finding(
                    p,
                    "global node property",
                    "not imported: kiln has no equivalent",
                ),
            }
        }
    }

    fn unclassified(&mut self, node: &Node) {
        for (key, value) in entries(node) {
            let key = key.scalar_text().unwrap_or_default();
            match key.as_str() {
                "location" => services::location(self, value),
                "mailer" => services::mailer(self, value),
                "slackNotifier" => services::slack(self, value),
                "sonarGlobalConfiguration" => services::sonar(self, value),
                "globalLibraries" => services::libraries(self, value),
                "gitHubPluginConfig" => services::github(self, value),
                _ => self.skip(
                    value,
                    &format!("unclassified.{key}"),
                    "not imported: kiln has no equivalent",
                ),
            }
        }
    }

    fn credentials(&mut self, node: &Node) {
        credentials::read(self, node);
    }

    fn tools(&mut self, node: &Node) {
        services::tools(self, node);
    }
}

/// The entries of a mapping node (none for other kinds).
pub(crate) fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.kind {
        NodeKind::Map(e) => e,
        _ => &[],
    }
}

/// The items of a list node (none for other kinds).
pub(crate) fn items(node: &Node) -> &[Node] {
    match &node.kind {
        NodeKind::Seq(s) => s,
        _ => &[],
    }
}

/// The scalar under `key`, as text, when present and not empty.
pub(crate) fn text(node: &Node, key: &str) -> Option<String> {
    node.get(key)
        .and_then(Node::scalar_text)
        .filter(|s| !s.trim().is_empty())
}

/// A boolean under `key` (`true`/`false` or the strings).
pub(crate) fn flag(node: &Node, key: &str) -> Option<bool> {
    match text(node, key)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `key: value` with a string value.
pub(crate) fn entry(key: &str, value: impl Into<String>) -> Entry {
    Entry::new(key, Yaml::Str(value.into()))
}
