//! `unclassified` settings kiln has: the controller's URL and admin address, the mailer,
//! Slack, SonarQube servers, global shared libraries; and `tool` installations.

use super::{Reader, entries, entry, flag, items, text};
use crate::yaml_out::{Entry, Item, Yaml};
use kiln_yaml::{Node, NodeKind};

pub(super) fn location(r: &mut Reader, node: &Node) {
    if let Some(url) = text(node, "url") {
        if url.starts_with("http://") || url.starts_with("https://") {
            r.out.external_url = Some(url.trim_end_matches('/').to_string());
        } else {
            r.finding(
                node,
                "unclassified.location.url",
                "not an http(s) URL: not imported",
            );
        }
    }
    r.admin_address = text(node, "adminAddress");
}

pub(super) fn mailer(r: &mut Reader, node: &Node) {
    let Some(host) = text(node, "smtpHost") else {
        r.finding(node, "unclassified.mailer", "has no smtpHost: not imported");
        return;
    };
    let mut mail = vec![entry("host", host)];
    let tls = if flag(node, "useSsl") == Some(true) {
        Some("tls")
    } else if flag(node, "useTls") == Some(true) {
        Some("starttls")
    } else {
        None
    };
    if let Some(port) = text(node, "smtpPort").and_then(|p| p.parse::<i64>().ok()) {
        mail.push(Entry::new("port", Yaml::Int(port)));
    }
    if let Some(tls) = tls {
        mail.push(entry("tls", tls));
    }
    if let Some(auth) = node.get("authentication")
        && let Some(user) = text(auth, "username")
    {
        // SMTP AUTH needs a username/password credential: one is added for it.
        let id = "smtp-auth";
        let mut fields = vec![entry("id", id), entry("username", user)];
        let password = text(auth, "password");
        let mut notes = Vec::new();
        fields.push(super::credentials::secret_field(
            "password",
            password,
            id,
            Some("PASSWORD"),
            &mut notes,
        ));
        let mut item = Item::new(Yaml::Map(fields)).comment("the mailer's SMTP login");
        for n in notes {
            item = item.comment(n);
        }
        r.out.credentials.push(item);
        mail.push(entry("credential", id));
    }
    for key in ["defaultSuffix", "replyToAddress", "charset"] {
        if let Some(v) = node.get(key) {
            r.finding(
                v,
                format!("unclassified.mailer.{key}"),
                "not imported: kiln has no equivalent",
            );
        }
    }
    r.out.mail = Some(mail);
}

pub(super) fn slack(r: &mut Reader, node: &Node) {
    let mut slack = Vec::new();
    for (from, to) in [
        ("baseUrl", "base_url"),
        ("teamDomain", "team_domain"),
        ("tokenCredentialId", "credential"),
        ("room", "channel"),
    ] {
        if let Some(v) = text(node, from) {
            slack.push(entry(to, v));
        }
    }
    if flag(node, "botUser") == Some(true) {
        slack.push(Entry::new("bot_user", Yaml::Bool(true)));
    }
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        if ![
            "baseUrl",
            "teamDomain",
            "tokenCredentialId",
            "room",
            "botUser",
        ]
        .contains(&key.as_str())
        {
            r.finding(
                value,
                format!("unclassified.slackNotifier.{key}"),
                "not imported: kiln has no equivalent",
            );
        }
    }
    r.out.slack = Some(slack);
}

pub(super) fn sonar(r: &mut Reader, node: &Node) {
    for inst in node.get("installations").map_or(&[][..], items) {
        let (Some(name), Some(url)) = (text(inst, "name"), text(inst, "serverUrl")) else {
            r.finding(
                inst,
                "SonarQube installation",
                "has no name or serverUrl: not imported",
            );
            continue;
        };
        let mut fields = vec![entry("name", name), entry("url", url)];
        if let Some(c) = text(inst, "credentialsId") {
            fields.push(entry("credential", c));
        }
        let props = text(inst, "additionalAnalysisProperties")
            .or_else(|| text(inst, "additionalProperties"));
        if let Some(p) = props {
            fields.push(entry("additional_properties", p));
        }
        r.out.sonarqube.push(Item::new(Yaml::Map(fields)));
    }
}

pub(super) fn libraries(r: &mut Reader, node: &Node) {
    for lib in node.get("libraries").map_or(&[][..], items) {
        let Some(name) = text(lib, "name") else {
            r.finding(lib, "global library", "has no name: not imported");
            continue;
        };
        let Some(repo) = lib.get("retriever").and_then(library_repo) else {
            r.finding(
                lib,
                format!("library `{name}`"),
                "its retriever is not a git repository kiln can read: not imported",
            );
            continue;
        };
        let mut fields = vec![entry("name", name.clone()), entry("repo", repo)];
        if let Some(v) = text(lib, "defaultVersion") {
            fields.push(entry("default_version", v));
        }
        let mut item = Item::new(Yaml::Map(fields));
        if flag(lib, "implicit") == Some(true) {
            item = item.comment(
                "implicit in Jenkins: kiln loads it only where a Jenkinsfile says @Library",
            );
            r.finding(
                lib,
                format!("library `{name}` (implicit)"),
                "kiln loads libraries a Jenkinsfile names with @Library; add @Library to the Jenkinsfiles that use it",
            );
        }
        r.out.libraries.push(item);
    }
}

/// The git URL of a library's retriever (`modernSCM` with `git` or `github`, `legacySCM`).
fn library_repo(retriever: &Node) -> Option<String> {
    if let Some(modern) = retriever.get("modernSCM") {
        let scm = modern.get("scm").or_else(|| modern.get("scmSource"))?;
        if let Some(git) = scm.get("git") {
            return text(git, "remote");
        }
        if let Some(gh) = scm.get("github") {
            if let Some(url) = text(gh, "repositoryUrl") {
                return Some(url);
            }
            return Some(format!(
                "https://github.com/{}/{}.git",
                text(gh, "repoOwner")?,
                text(gh, "repository")?
            ));
        }
        return None;
    }
    let git = retriever.get("legacySCM")?.get("scm")?.get("git")?;
    let remotes = git.get("userRemoteConfigs")?;
    items(remotes).first().and_then(|r| text(r, "url"))
}

const TOOL_KINDS: &[(&str, &str)] = &[
    ("maven", "maven"),
    ("jdk", "jdk"),
    ("gradle", "gradle"),
    ("nodejs", "nodejs"),
    ("go", "go"),
    ("ant", "ant"),
];

pub(super) fn tools(r: &mut Reader, node: &Node) {
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        let Some((_, kind)) = TOOL_KINDS.iter().find(|(k, _)| *k == key) else {
            let reason = if key == "git" {
                "not imported: kiln runs the git on its PATH"
            } else {
                "not imported: kiln's tools are maven, jdk, gradle, nodejs, go and ant"
            };
            r.finding(value, format!("tool.{key}"), reason);
            continue;
        };
        for inst in value.get("installations").map_or(&[][..], items) {
            let name = text(inst, "name").unwrap_or_default();
            let Some(home) = text(inst, "home") else {
                r.finding(
                    inst,
                    format!("{key} installation `{name}`"),
                    "installed by Jenkins' automatic installers, with no home: install it on kiln's machine (or image) and add it to tools:",
                );
                continue;
            };
            let mut item = Item::new(Yaml::Map(vec![
                entry("name", name),
                entry("type", *kind),
                entry("home", home),
            ]));
            if matches!(inst.get("properties").map(|p| &p.kind), Some(NodeKind::Seq(s)) if !s.is_empty())
            {
                item = item.comment(
                    "Jenkins also had automatic installers for it: kiln uses the home only",
                );
            }
            r.out.tools.push(item);
        }
    }
}

/// `unclassified.gitHubPluginConfig`: the webhook secret's credential (kept for the jobs
/// built on GitHub's webhook); the API servers are reported.
pub(super) fn github(r: &mut Reader, node: &Node) {
    for (key, value) in entries(node) {
        let key = key.scalar_text().unwrap_or_default();
        if key == "hookSecretConfigs" {
            let ids: Vec<String> = items(value)
                .iter()
                .filter_map(|h| text(h, "credentialsId"))
                .collect();
            if let Some(id) = ids.first() {
                r.hook_secret = Some((id.clone(), value.clone()));
            }
            if ids.len() > 1 {
                r.finding(
                    value,
                    "gitHubPluginConfig.hookSecretConfigs",
                    "only the first secret is imported",
                );
            }
        } else {
            r.finding(
                value,
                format!("unclassified.gitHubPluginConfig.{key}"),
                "not imported: kiln has no equivalent",
            );
        }
    }
}

/// The jobs' `webhook_secret_env`/`_file` from the credential `id` imported above.
pub(super) fn webhook_secret(r: &mut Reader, id: &str, node: &Node) {
    let found = r.out.credentials.iter().find_map(|item| {
        let Yaml::Map(fields) = &item.value else {
            return None;
        };
        let has_id = fields
            .iter()
            .any(|f| f.key == "id" && f.value == Yaml::Str(id.to_string()));
        let source = fields
            .iter()
            .find(|f| f.key == "secret_env" || f.key == "secret_file")?;
        has_id.then(|| {
            let key = source.key.replace("secret_", "webhook_secret_");
            Entry::new(key, source.value.clone())
                .comment(format!("GitHub's webhook secret (credential `{id}`)"))
        })
    });
    match found {
        Some(e) => r.out.webhook_secret = Some(e),
        None => r.finding(
            node,
            format!("GitHub webhook secret `{id}`"),
            "no secret-text credential with that id was imported",
        ),
    }
}
