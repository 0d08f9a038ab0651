//! `build_pod` from real Jenkinsfiles: templates, inheritance, the pipeline's YAML, kiln's
//! volumes and labels, and diagnostics positioned in the Jenkinsfile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::Pod;
use kiln_diagnostics::{RenderOptions, SourceFile, render};
use kiln_kube::{AgentRequest, BuiltPod, KubeConfig, PodIdentity, build_pod};
use kiln_model::Document;
use kiln_types::AgentSpecKind;

const CONFIG: &str = r#"
namespace: builds
service_account: kiln-builder
templates:
- name: base
  pod_labels: {team: ci}
  tolerations: [{key: ci, operator: Exists}]
  containers:
  - name: jnlp
    image: busybox
- name: maven
  inherit_from: base
  labels: [maven, java]
  default_container: maven
  node_selector: {pool: builders}
  containers:
  - name: maven
    image: maven:3.9
    resources: {requests: {cpu: '1', memory: 2Gi}}
  caches:
  - {name: m2, preset: maven, source: {persistent_volume_claim: {claim_name: kiln-m2}}, scope: project}
  pool: {min: 1, max: 2}
"#;

fn config() -> KubeConfig {
    KubeConfig::from_yaml(CONFIG).unwrap()
}

fn id() -> PodIdentity {
    PodIdentity {
        name: "kiln-app-7".into(),
        job: "team/app".into(),
        build: 7,
    }
}

/// The request of the pipeline's top-level kubernetes agent (literals evaluated as written).
fn request(jenkinsfile: &str) -> AgentRequest {
    let (doc, diags) = kiln_model::load(jenkinsfile);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let Some(Document::Declarative(p)) = doc else {
        panic!("not declarative")
    };
    let spec = kiln_plan::agent_spec(&p.agent, &mut |e| e.as_plain_str());
    let AgentSpecKind::Kubernetes(k) = &spec.kind else {
        panic!("not kubernetes: {:?}", p.agent)
    };
    AgentRequest::from_spec(k, spec.span)
}

fn ok(jenkinsfile: &str) -> BuiltPod {
    match build_pod(&config(), &request(jenkinsfile), &id()) {
        Ok(b) => b,
        Err(d) => panic!("{}", rendered(jenkinsfile, &d)),
    }
}

fn rendered(jenkinsfile: &str, diags: &[kiln_diagnostics::Diagnostic]) -> String {
    let file = SourceFile::new("Jenkinsfile", jenkinsfile);
    diags
        .iter()
        .map(|d| render(d, &file, RenderOptions { color: false }))
        .collect()
}

fn err(jenkinsfile: &str) -> String {
    match build_pod(&config(), &request(jenkinsfile), &id()) {
        Ok(b) => panic!("expected diagnostics, got {:?}", b.pod),
        Err(d) => rendered(jenkinsfile, &d),
    }
}

fn pipeline(agent: &str) -> String {
    format!(
        "pipeline {{\n  agent {{\n    kubernetes {{\n{agent}\n    }}\n  }}\n  stages {{ stage('a') {{ steps {{ sh 'true' }} }} }}\n}}\n"
    )
}

fn containers(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn a_template_chain_plus_pipeline_yaml_makes_one_pod() {
    let jf = pipeline(
        "      inheritFrom 'maven'\n      yaml '''\nspec:\n  containers:\n  - name: maven\n    env:\n    - {name: MAVEN_ARGS, value: -B}\n  - name: node\n    image: node:20\n  nodeSelector: {disk: ssd}\n'''",
    );
    let built = ok(&jf);
    assert_eq!(built.templates, ["base", "maven"]);
    assert_eq!(built.namespace, "builds");
    assert_eq!(built.default_container, "maven");
    assert_eq!(built.step_containers, ["jnlp", "maven", "node"]);
    assert_eq!(
        built.pool, None,
        "a pod changed by the pipeline cannot come from the pool"
    );
    let pod = &built.pod;
    assert_eq!(containers(pod), ["jnlp", "maven", "node"]);
    let spec = pod.spec.as_ref().unwrap();
    let maven = &spec.containers[1];
    assert_eq!(maven.image.as_deref(), Some("maven:3.9"));
    let env: Vec<_> = maven
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env, ["MAVEN_ARGS", "MAVEN_OPTS"]);
    let selector = spec.node_selector.as_ref().unwrap();
    assert_eq!(
        (selector["pool"].as_str(), selector["disk"].as_str()),
        ("builders", "ssd")
    );
    assert_eq!(spec.service_account_name.as_deref(), Some("kiln-builder"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.tolerations.as_ref().unwrap().len(), 1);
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["kiln.dev/job"], "team_app");
    assert_eq!(labels["kiln.dev/build"], "7");
    assert_eq!(labels["kiln.dev/template"], "maven");
    assert_eq!(labels["team"], "ci");
    assert_eq!(
        pod.metadata.annotations.as_ref().unwrap()["kiln.dev/job-name"],
        "team/app"
    );
    assert_eq!(pod.metadata.name.as_deref(), Some("kiln-app-7"));
}

#[test]
fn every_container_shares_the_workspace_and_agent_volumes() {
    let built = ok(&pipeline("      inheritFrom 'maven'"));
    let spec = built.pod.spec.as_ref().unwrap();
    for c in &spec.containers {
        let mounts: Vec<_> = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect();
        assert!(
            mounts.contains(&("kiln-workspace", "/workspace")),
            "{}: {mounts:?}",
            c.name
        );
        assert!(
            mounts.contains(&("kiln-agent", "/kiln")),
            "{}: {mounts:?}",
            c.name
        );
        assert_eq!(c.working_dir.as_deref(), Some("/workspace"));
    }
    let volumes: Vec<_> = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(volumes, ["kiln-workspace", "kiln-agent", "cache-m2"]);
    let m2 = spec.containers[1]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "cache-m2")
        .unwrap();
    assert_eq!(
        m2.sub_path.as_deref(),
        Some("team_app"),
        "the m2 cache is keyed per project"
    );
    assert_eq!(
        built.pool.as_ref().map(|(t, p)| (t.as_str(), p.max)),
        Some(("maven", 2))
    );
}

#[test]
fn idle_containers_do_not_hold_a_full_request() {
    let built = ok(&pipeline("      inheritFrom 'maven'"));
    let spec = built.pod.spec.as_ref().unwrap();
    let req = |i: usize| {
        spec.containers[i]
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()
            .clone()
    };
    assert_eq!(
        req(1)["cpu"].0,
        "1",
        "the default container keeps the largest request"
    );
    assert_eq!(req(0)["cpu"].0, "10m", "the others get a floor");
    assert_eq!(req(0)["memory"].0, "16Mi");
}

#[test]
fn labels_and_scalars_select_and_override() {
    let built = ok(&pipeline(
        "      label 'java'\n      namespace 'other'\n      serviceAccount 'deployer'\n      defaultContainer 'jnlp'",
    ));
    assert_eq!(built.templates, ["base", "maven"]);
    assert_eq!(built.namespace, "other");
    assert_eq!(built.default_container, "jnlp");
    assert_eq!(
        built.pod.spec.unwrap().service_account_name.as_deref(),
        Some("deployer")
    );
}

#[test]
fn override_strategy_replaces_the_template_spec() {
    let built = ok(&pipeline(
        "      inheritFrom 'maven'\n      yamlMergeStrategy override()\n      yaml '''\nspec:\n  containers:\n  - {name: go, image: 'golang:1.23'}\n'''",
    ));
    assert_eq!(containers(&built.pod), ["go"]);
}

#[test]
fn bad_yaml_is_reported_at_its_place_in_the_jenkinsfile() {
    let jf = pipeline(
        "      yaml '''\nspec:\n  containers:\n  - name: a\n    image: x\n    imagePullPolice: Always\n  nodeSelectr: {a: b}\n'''",
    );
    let out = err(&jf);
    assert!(
        out.contains("error: unknown field `imagePullPolice` in `spec.containers[0]`"),
        "{out}"
    );
    assert!(out.contains("--> Jenkinsfile:9:5"), "{out}");
    assert!(
        out.contains("help: did you mean `imagePullPolicy`?"),
        "{out}"
    );
    assert!(
        out.contains("error: unknown field `nodeSelectr` in `spec`"),
        "{out}"
    );
    assert!(out.contains("--> Jenkinsfile:10:3"), "{out}");
    assert!(out.contains("help: did you mean `nodeSelector`?"), "{out}");
}

#[test]
fn yaml_syntax_and_type_errors_are_positioned() {
    let out = err(&pipeline(
        "      yaml '''\nspec:\n  containers: [ {name: a, image: x}\n'''",
    ));
    assert!(out.contains("error: invalid pod YAML"), "{out}");
    assert!(out.contains("of the pod YAML"), "{out}");
    let out = err(&pipeline(
        "      yaml '''\nspec:\n  containers:\n  - name: a\n    image: x\n    ports: 8080\n'''",
    ));
    assert!(out.contains("error: invalid pod:"), "{out}");
    assert!(out.contains("--> Jenkinsfile:9:12"), "{out}");
}

#[test]
fn unknown_templates_and_containers_are_named() {
    let out = err(&pipeline("      inheritFrom 'mavne'"));
    assert!(out.contains("error: unknown pod template `mavne`"), "{out}");
    assert!(out.contains("help: did you mean `maven`?"), "{out}");
    let out = err(&pipeline(
        "      inheritFrom 'maven'\n      defaultContainer 'mavn'",
    ));
    assert!(
        out.contains("error: the pod has no container `mavn`"),
        "{out}"
    );
    let out = err(&pipeline("      label 'rust'"));
    assert!(
        out.contains("error: no pod template serves the label `rust`"),
        "{out}"
    );
}

#[test]
fn a_pod_without_containers_or_images_is_refused() {
    let config = KubeConfig::default();
    let jf = pipeline("      yaml '''\nspec:\n  containers:\n  - name: Bad_Name\n'''");
    let d = build_pod(&config, &request(&jf), &id()).unwrap_err();
    let out = rendered(&jf, &d);
    assert!(
        out.contains("container name `Bad_Name` is not a valid name"),
        "{out}"
    );
    assert!(out.contains("container `Bad_Name` has no image"), "{out}");
    let jf = pipeline("      defaultContainer 'x'");
    let out = rendered(&jf, &build_pod(&config, &request(&jf), &id()).unwrap_err());
    assert!(out.contains("the pod has no containers"), "{out}");
}

#[test]
fn kaniko_build_is_a_step_with_typed_parameters() {
    let step = "kanikoBuild(context: '.', dockerfile: 'Dockerfile', destinations: ['reg/app:1'], cache: true, cacheRepo: 'reg/app/cache', buildArgs: ['V=1'], platforms: ['linux/amd64', 'linux/arm64'], insecureRegistries: ['reg'])";
    let jf = format!(
        "pipeline {{\n  agent any\n  stages {{ stage('a') {{ steps {{ {step} }} }} }}\n}}\n"
    );
    let (_, diags) = kiln_model::load(&jf);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let bad = jf
        .replace("cache: true", "cache: 'yes'")
        .replace("destinations: ['reg/app:1'], ", "");
    let (_, diags) = kiln_model::load(&bad);
    let messages: Vec<_> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
}

#[test]
fn kubernetes_plugin_settings_shape_the_pod() {
    let jf = pipeline(
        "      inheritFrom 'maven'\n      activeDeadlineSeconds 3600\n      slaveConnectTimeout 120\n      nodeSelector 'disktype=ssd, zone=b'\n      supplementalGroups '1000,2000'\n      containerTemplate(name: 'node', image: 'node:22', command: 'sleep', args: '99d', resourceRequestCpu: '500m', resourceLimitMemory: '1Gi', alwaysPullImage: true, envVars: [envVar(key: 'CI', value: 'true')])\n      containerTemplate(name: 'maven', image: 'maven:3.9-eclipse-temurin-21')",
    );
    let built = ok(&jf);
    assert_eq!(
        built.pool, None,
        "a pod changed by the pipeline is not a pool's"
    );
    assert_eq!(built.step_containers, ["jnlp", "maven", "node"]);
    let pod = &built.pod;
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.active_deadline_seconds, Some(3600));
    let selector = spec.node_selector.as_ref().unwrap();
    assert_eq!(selector.get("pool").map(String::as_str), Some("builders"));
    assert_eq!(selector.get("disktype").map(String::as_str), Some("ssd"));
    assert_eq!(selector.get("zone").map(String::as_str), Some("b"));
    let groups = spec
        .security_context
        .as_ref()
        .unwrap()
        .supplemental_groups
        .clone();
    assert_eq!(groups, Some(vec![1000, 2000]));
    assert_eq!(
        kiln_kube::start_deadline_of(pod),
        Some(std::time::Duration::from_secs(120))
    );
    // A containerTemplate with a template container's name replaces it.
    let maven = &spec.containers[1];
    assert_eq!(maven.image.as_deref(), Some("maven:3.9-eclipse-temurin-21"));
    let node = &spec.containers[2];
    assert_eq!(node.image.as_deref(), Some("node:22"));
    assert_eq!(node.image_pull_policy.as_deref(), Some("Always"));
    let resources = node.resources.as_ref().unwrap();
    assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "1Gi");
    assert!(resources.requests.as_ref().unwrap().contains_key("cpu"));
    let env = node.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "CI" && e.value.as_deref() == Some("true"))
    );
}

#[test]
fn kubernetes_plugin_settings_that_do_not_fit_are_positioned() {
    let jf = pipeline(
        "      activeDeadlineSeconds 'soon'\n      nodeSelector 'ssd'\n      containerTemplate(name: 'x')",
    );
    let out = err(&jf);
    assert!(
        out.contains("`activeDeadlineSeconds` must be a positive number of seconds, not `soon`"),
        "{out}"
    );
    assert!(out.contains("Jenkinsfile:4:29"), "{out}");
    assert!(
        out.contains("`nodeSelector` entry `ssd` is not `key=value`"),
        "{out}"
    );
    assert!(
        out.contains("`containerTemplate` needs `name` and `image`"),
        "{out}"
    );
}

/// The top-level agent of a pipeline whose `agent { }` body is `agent`, as plain values (a
/// top-level agent's literals only).
fn spec(agent: &str) -> kiln_types::AgentSpec {
    let text = format!(
        "pipeline {{\n  agent {{ {agent} }}\n  stages {{ stage('s') {{ steps {{ sh 'true' }} }} }}\n}}\n"
    );
    let (doc, diags) = kiln_model::load(&text);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let Some(Document::Declarative(p)) = doc else {
        panic!("not declarative: {text}")
    };
    kiln_plan::agent_spec(&p.agent, &mut |e| e.as_plain_str())
}

#[test]
fn pod_request_serves_the_agents_a_pod_runs() {
    let config = config();
    let request = |agent: &str| kiln_kube::pod_request(&config, &spec(agent), None);
    let (label, notes) = request("label 'java'").unwrap().unwrap();
    assert_eq!(label.label.as_ref().map(|l| l.value.as_str()), Some("java"));
    assert!(notes.is_empty());
    let built = build_pod(&config, &label, &id()).unwrap();
    assert_eq!(built.templates, ["base", "maven"]);
    assert!(request("label 'windows'").unwrap().is_none(), "no template");
    assert!(request("label \"${env.L}\"").unwrap().is_none(), "no value");
    assert!(request("any").unwrap().is_none());
    let (docker, notes) = request("docker { image 'node:22'; reuseNode true }")
        .unwrap()
        .unwrap();
    assert_eq!(docker.default_container.unwrap().value, "docker");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        request("docker { image \"node:${env.V}\" }")
            .unwrap()
            .is_none()
    );
    let (k, _) = request("kubernetes { inheritFrom 'maven' }")
        .unwrap()
        .unwrap();
    assert_eq!(k.inherit_from.unwrap().value, "maven");
    let no_workspace = request("kubernetes { yamlFile 'pod.yaml' }").unwrap_err();
    assert!(
        no_workspace.message.contains("needs a workspace"),
        "{no_workspace:?}"
    );
}

#[test]
fn runs_in_pod_says_which_agents_leave_the_machine() {
    let config = config();
    let runs =
        |agent: &str, dockerfile: bool| kiln_kube::runs_in_pod(&config, dockerfile, &spec(agent));
    assert!(runs("none", false));
    assert!(runs("kubernetes { yaml 'spec: {}' }", false));
    assert!(runs("docker { image 'node:22' }", false));
    assert!(runs("label 'maven'", false));
    assert!(!runs("label 'windows'", false));
    assert!(
        !runs("label \"${env.L}\"", false),
        "a label without a value"
    );
    assert!(!runs("any", false));
    assert!(!runs("dockerfile true", false));
    assert!(runs("dockerfile true", true));
}
