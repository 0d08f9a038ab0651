//! `forge:` of a job, the top-level `forges:` and `server.public_badges`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{ForgeDefaults, ForgeKind, ForkTrust, parse};
use kiln_diagnostics::RenderOptions;

#[test]
fn forge_settings_decode() {
    let cfg = parse(
        "kiln.yaml",
        "server: {public_badges: true}
credentials: [{id: gh, secret: t}]
forges:
  - {kind: github, token_credential: gh}
  - {kind: gitlab, api_url: 'https://git.example.com/api/v4/'}
jobs:
  - name: app
    repo: https://github.com/acme/app.git
    forge: {kind: github, repository: acme/app, trust: nobody, untrusted_credentials: true}
",
    )
    .unwrap();
    assert!(cfg.server.public_badges);
    assert_eq!(
        cfg.forges,
        [
            ForgeDefaults {
                kind: ForgeKind::GitHub,
                host: "github.com".into(),
                api_url: "https://api.github.com".into(),
                token_credential: Some("gh".into()),
                app: None,
            },
            ForgeDefaults {
                kind: ForgeKind::GitLab,
                host: "git.example.com".into(),
                api_url: "https://git.example.com/api/v4".into(),
                token_credential: None,
                app: None,
            },
        ]
    );
    let forge = cfg.jobs[0].forge.clone().unwrap();
    assert_eq!(forge.kind, Some(ForgeKind::GitHub));
    assert_eq!(forge.repository.as_deref(), Some("acme/app"));
    assert_eq!(forge.trust, ForkTrust::Nobody);
    assert!(forge.untrusted_credentials);
    assert!(!parse("kiln.yaml", "").unwrap().server.public_badges);
}

#[test]
fn bad_forge_settings_are_reported_at_their_values() {
    let err = parse(
        "kiln.yaml",
        "server: {public_badges: yes please}
forges:
  - {api_url: 'https://example.com'}
  - {kind: gitea}
jobs:
  - name: app
    repo: /srv/app
    forge: {kind: github, api_url: ftp://x, repository: justone, token_credential: nope, trust: all, colour: red}
",
    )
    .unwrap_err();
    insta::assert_snapshot!(err.render(RenderOptions::default()));
}

#[test]
fn a_github_app_needs_its_id_and_key() {
    let cfg = parse(
        "kiln.yaml",
        "credentials: [{id: key, secret: pem}]
jobs:
  - name: app
    repo: https://github.com/acme/app.git
    forge: {kind: github, app_id: 42, app_key_credential: key}
",
    )
    .unwrap();
    let app = cfg.jobs[0].forge.clone().unwrap().app.unwrap();
    assert_eq!((app.app_id, app.key_credential.as_str()), (42, "key"));
    let err = parse(
        "kiln.yaml",
        "credentials: [{id: key, secret: pem}]
jobs:
  - name: app
    repo: https://github.com/acme/app.git
    forge: {kind: github, app_id: 42}
  - name: lab
    repo: https://gitlab.com/g/app.git
    forge: {kind: gitlab, app_id: 42, app_key_credential: key}
",
    )
    .unwrap_err()
    .render(RenderOptions::default());
    assert!(err.contains("app_key_credential"), "{err}");
    assert!(err.contains("no GitHub App on a `gitlab` forge"), "{err}");
}
