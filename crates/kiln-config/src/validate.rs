//! Rules across sections: unique names, upstream jobs that exist, loopback without tokens.

use crate::Config;
use crate::decode::Places;
use kiln_diagnostics::{Diagnostic, Spanned, did_you_mean};

pub(crate) fn check(cfg: &Config, places: &Places) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    unique(&places.job_names, "job name", &mut out);
    unique(&places.credential_ids, "credential id", &mut out);
    unique(&places.library_names, "library name", &mut out);
    unique(&places.token_names, "token name", &mut out);
    unique(&places.sonar_names, "SonarQube server name", &mut out);
    unique(
        &places.coverity_names,
        "Coverity Connect instance name",
        &mut out,
    );
    unique(&places.artifactory_ids, "Artifactory server id", &mut out);
    unique(&places.config_file_ids, "config file id", &mut out);
    unique(&places.tool_names, "tool name", &mut out);
    for r in &places.credential_refs {
        if !places.credential_ids.iter().any(|c| c.value == r.value) {
            out.push(
                Diagnostic::error(
                    "unknown-credential",
                    format!("unknown credential `{}`", r.value),
                )
                .with_primary(r.span, "no entry of `credentials` has this id"),
            );
        }
    }
    for up in &places.upstream {
        if places.job_names.iter().any(|j| j.value == up.value) {
            continue;
        }
        let names = places.job_names.iter().map(|j| j.value.as_str());
        let guess = did_you_mean(&up.value, names).filter(|_| up.value.len() > 2);
        let label = match guess {
            Some(s) => format!("did you mean `{s}`?"),
            None => "no job has this name".to_owned(),
        };
        out.push(
            Diagnostic::error(
                "unknown-job",
                format!("unknown upstream job `{}`", up.value),
            )
            .with_primary(up.span, label),
        );
    }
    if !cfg.listen_allowed(&cfg.server.listen) {
        let d = Diagnostic::error(
            "open-listen",
            format!(
                "kiln will not listen on {} without API tokens",
                cfg.server.listen
            ),
        )
        .with_note("help: add `server.tokens` (with roles), or listen on 127.0.0.1");
        out.push(match places.listen {
            Some(span) => d.with_primary(span, "not a loopback address"),
            None => d,
        });
    }
    out
}

fn unique(items: &[Spanned<String>], what: &str, out: &mut Vec<Diagnostic>) {
    for (i, item) in items.iter().enumerate() {
        if let Some(first) = items[..i].iter().find(|f| f.value == item.value) {
            out.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("duplicate {what} `{}`", item.value),
                )
                .with_primary(item.span, "used again here")
                .with_secondary(first.span, "first used here"),
            );
        }
    }
}
