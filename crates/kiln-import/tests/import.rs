//! Each fixture (a JCasC file and a jobs folder) imported: the kiln.yaml and findings are
//! snapshotted, and the file must load through kiln-config, its Kubernetes section through
//! kiln-kube's checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_import::{Imported, jcasc, jobs};
use std::path::Path;

fn import_fixture(name: &str) -> Imported {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let jcasc_path = dir.join("jenkins.yaml");
    let text = std::fs::read_to_string(&jcasc_path).unwrap();
    let controller = jcasc::read(Path::new("jenkins.yaml"), &text).unwrap();
    let (jobs, findings) = jobs::read_dir(&dir.join("jobs")).unwrap();
    kiln_import::import(Some(&controller), &jobs, findings)
}

fn loads(imported: &Imported) -> kiln_config::Config {
    let config = match kiln_config::parse("kiln.yaml", &imported.text) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{}", imported.text),
    };
    if let Some(kube) = &config.executors.kubernetes
        && let Err(diags) = kiln_kube::KubeConfig::from_json(kube)
    {
        panic!("{diags:#?}\n{}", imported.text);
    }
    config
}

fn check(name: &str) -> kiln_config::Config {
    let imported = import_fixture(name);
    insta::assert_snapshot!(format!("{name}.kiln.yaml"), imported.text);
    let scripts: Vec<String> = imported
        .inline_scripts
        .iter()
        .map(|s| format!("{}:\n{}", s.path, s.script))
        .collect();
    insta::assert_snapshot!(format!("{name}.inline"), scripts.join("\n---\n"));
    loads(&imported)
}

#[test]
fn a_controller_with_every_kind_of_setting_imports_and_loads() {
    let config = check("controller");
    let api = config.job("api-service").unwrap();
    assert_eq!(api.jenkinsfile, "ci/Jenkinsfile");
    assert_eq!(api.retention.builds, Some(50));
    assert_eq!(api.parameters["REGION"], "eu-west-1");
    assert_eq!(
        api.webhook_secret,
        Some(kiln_config::SecretSource::Env(
            "GITHUB_WEBHOOK_SECRET".into()
        ))
    );
    assert!(!api.parameters.contains_key("DEPLOY_KEY"));
    let gateway = config.job("team-platform.gateway").unwrap();
    assert_eq!(gateway.branch, "release/*");
    let nightly = config.job("nightly-report").unwrap();
    let upstream: Vec<&str> = nightly
        .triggers
        .upstream
        .iter()
        .map(|j| j.as_str())
        .collect();
    assert_eq!(upstream, ["api-service", "team-platform.gateway"]);
    assert!(config.job("legacy-freestyle").is_none());
    assert!(config.job("old-pipeline").is_none());
    assert_eq!(config.services.tools.len(), 2);
    assert_eq!(config.libraries.len(), 2);
}

#[test]
fn no_secret_value_is_written() {
    let imported = import_fixture("controller");
    for secret in ["plain-text-in-yaml", "AQAAAB", "EXAMPLEONLY"] {
        assert!(!imported.text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn quotes_colons_hashes_multi_line_values_and_unicode_survive() {
    let config = check("escaping");
    let job = &config.jobs[0];
    assert_eq!(job.name.as_str(), "release-notes---n--");
    assert_eq!(job.jenkinsfile, "ci/Jenkinsfile #2");
    assert_eq!(
        job.parameters["NOTES"],
        "line one: \"quoted\"\n  indented # hash\ntab\tend\n"
    );
    assert_eq!(job.parameters["TAG"], "v1.0: 'rc' \\ backslash");
    assert_eq!(job.parameters["FLAG"], "no");
    assert_eq!(job.parameters["NUMBER"], "0755");
    assert_eq!(job.parameters["EMPTY"], "");
    let sonar = &config.services.sonarqube[0];
    assert_eq!(sonar.name, "Sonar: main");
    assert_eq!(
        sonar.additional_properties.as_deref(),
        Some("sonar.exclusions=**/*.gen.go\nsonar.projectName=Zürich ☃")
    );
    assert_eq!(config.services.tools[0].name, "node 20 – LTS");
    let kube =
        kiln_kube::KubeConfig::from_json(config.executors.kubernetes.as_ref().unwrap()).unwrap();
    let yaml = kube.templates[0].yaml.as_deref().unwrap();
    assert!(
        yaml.starts_with("  # indented first line\napiVersion: v1\n"),
        "{yaml:?}"
    );
    assert!(yaml.contains("\"quote \\\" and tab\there\""), "{yaml:?}");
    assert!(yaml.ends_with("here\"\n"), "{yaml:?}");
    assert_eq!(kube.namespace, "yes");
}

#[test]
fn broken_job_files_are_findings_and_a_broken_jcasc_file_an_error_at_its_place() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let (jobs, findings) = jobs::read_dir(&dir.join("jobs")).unwrap();
    assert!(jobs.is_empty());
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"), @r"
    not-xml/config.xml: job configuration: not readable XML (at byte 28): ill-formed document: entity or character reference not closed: `;` not found before end of input
    truncated/config.xml: job configuration: not readable XML (at byte 147): the document ends before its root element closes
    ");
    let yaml = std::fs::read_to_string(dir.join("jenkins.yaml")).unwrap();
    let err = jcasc::read(Path::new("jenkins.yaml"), &yaml).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r"
    `jenkins.yaml` is not valid YAML:
    error: invalid YAML: unclosed bracket '['
      --> jenkins.yaml:3:19
       |
     3 |     - kubernetes: [unclosed
       |                   ^ here
    ");
    let missing = jobs::read_dir(&dir.join("no-such-dir")).unwrap_err();
    assert!(missing.to_string().contains("no-such-dir"), "{missing}");
}
