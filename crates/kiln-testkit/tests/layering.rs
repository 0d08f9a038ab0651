//! The layering of kiln's crates, checked against every crate's Cargo.toml (read through
//! `cargo metadata`, so every way of writing a dependency counts).
//!
//! The rules are those of ARCHITECTURE.md. A rule the tree still breaks has an entry in
//! [`KNOWN_VIOLATIONS`] naming the crate pair and why; the test fails on any violation not
//! listed there, and on an entry that no longer matches a violation (delete it then).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a broken workspace should stop it loudly"
)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The front end and vocabulary: no IO, no runtime, only each other below them.
const PURE: &[&str] = &[
    "kiln-diagnostics",
    "kiln-syntax",
    "kiln-model",
    "kiln-plan",
    "kiln-yaml",
    "kiln-types",
];

/// Crates that do IO or run things: async runtimes, storage, networks, processes, the
/// file system walkers, Kubernetes, script engines. A pure crate names none of them.
const RUNTIME: &[&str] = &[
    "tokio",
    "tokio-util",
    "futures-util",
    "async-trait",
    "sled",
    "tokio-postgres",
    "deadpool-postgres",
    "kube",
    "k8s-openapi",
    "hyper",
    "hyper-util",
    "hyper-timeout",
    "http",
    "axum",
    "tower",
    "ureq",
    "lettre",
    "nix",
    "landlock",
    "caps",
    "walkdir",
    "globset",
    "tempfile",
    "rhai",
    "tracing-subscriber",
];

/// Crates that may only ever be dev-dependencies (test support).
const DEV_ONLY: &[&str] = &["kiln-testkit", "kiln-fake-kube"];

/// Violations the tree has today, each waiting for a change that removes it. Delete an entry
/// when the test says it no longer matches.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// One dependency edge of a workspace crate.
#[derive(Clone, Debug)]
struct Edge {
    from: String,
    to: String,
    /// `None` (normal), `Some("dev")` or `Some("build")`.
    kind: Option<String>,
}

impl Edge {
    fn is_normal(&self) -> bool {
        self.kind.as_deref() != Some("dev")
    }
}

fn edges() -> (BTreeSet<String>, Vec<Edge>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let mut crates = BTreeSet::new();
    let mut edges = Vec::new();
    for package in packages {
        let from = package["name"].as_str().expect("name").to_owned();
        crates.insert(from.clone());
        for dep in package["dependencies"].as_array().expect("dependencies") {
            edges.push(Edge {
                from: from.clone(),
                to: dep["name"].as_str().expect("dependency name").to_owned(),
                kind: dep["kind"].as_str().map(str::to_owned),
            });
        }
    }
    (crates, edges)
}

/// What is wrong with one edge, if anything.
fn violation(edge: &Edge) -> Option<String> {
    let (from, to) = (edge.from.as_str(), edge.to.as_str());
    let kiln = to.starts_with("kiln-");
    if DEV_ONLY.contains(&to) && edge.is_normal() && !DEV_ONLY.contains(&from) {
        return Some(format!("{to} is test support: a dev-dependency only"));
    }
    if to == "kiln-cli" {
        return Some("nothing depends on kiln-cli: it is the top of the graph".to_owned());
    }
    if to == "kiln-server" && from != "kiln-cli" {
        return Some("only the kiln binary (kiln-cli) depends on kiln-server".to_owned());
    }
    if !edge.is_normal() {
        // Tests may use what they like, but sled and kube stay in their crates' tests.
        return match to {
            "sled" if from != "kiln-store" => Some("only kiln-store names sled".to_owned()),
            "kube" | "k8s-openapi" if !matches!(from, "kiln-kube" | "kiln-fake-kube") => {
                Some("only kiln-kube (and kiln-fake-kube's tests) name kube".to_owned())
            }
            _ => None,
        };
    }
    if PURE.contains(&from) {
        if kiln && !PURE.contains(&to) {
            return Some(format!(
                "{from} is pure: it depends on no runtime crate of kiln's"
            ));
        }
        if RUNTIME.contains(&to) {
            return Some(format!("{from} is pure: no IO, no runtime"));
        }
    }
    match (from, to) {
        (f, "sled") if f != "kiln-store" => Some("only kiln-store names sled".to_owned()),
        (f, "tokio-postgres" | "deadpool-postgres") if f != "kiln-store-pg" => {
            Some("only kiln-store-pg names PostgreSQL's client".to_owned())
        }
        (f, "kube" | "k8s-openapi") if f != "kiln-kube" && f != "kiln-fake-kube" => {
            Some("only kiln-kube names kube and k8s-openapi".to_owned())
        }
        (f, "serde-saphyr") if f != "kiln-yaml" => {
            Some("kiln-yaml is kiln's one YAML reader".to_owned())
        }
        (f, "rhai") if f != "kiln-script" => {
            Some("kiln-script is the one script engine factory".to_owned())
        }
        (f, "axum") if f != "kiln-server" && f != "kiln-fake-kube" => {
            Some("kiln-server is the only HTTP server of kiln's".to_owned())
        }
        ("kiln-engine" | "kiln-config", "kiln-store") => {
            Some("the engine and the configuration know no store".to_owned())
        }
        ("kiln-executor", t) if t.starts_with("kiln-") => {
            Some("kiln-executor depends on no kiln crate (the in-pod agent reuses it)".to_owned())
        }
        ("kiln-agent", t) if kiln && t != "kiln-executor" => {
            Some("kiln-agent depends on kiln-executor only".to_owned())
        }
        ("kiln-store", t) if kiln && t != "kiln-types" => {
            Some("kiln-store depends on the vocabulary crate only".to_owned())
        }
        ("kiln-store-pg", t) if kiln && t != "kiln-types" && t != "kiln-store" => {
            Some("kiln-store-pg depends on kiln-store and kiln-types only".to_owned())
        }
        ("kiln-engine" | "kiln-config" | "kiln-server", "kiln-store-pg") => Some(
            "the kiln binary chooses the store: the engine, config and server see the Store trait"
                .to_owned(),
        ),
        (f, "kiln-kube") if !matches!(f, "kiln-cli" | "kiln-import") => Some(
            "only the binary's wiring (kiln-cli) and kiln-import (which checks an imported \
             `executors.kubernetes`) name kiln-kube; the rest knows the execution-backend seam \
             (kiln-backend)"
                .to_owned(),
        ),
        ("kiln-backend", t)
            if kiln && !matches!(t, "kiln-types" | "kiln-diagnostics" | "kiln-executor") =>
        {
            Some(
                "kiln-backend (the execution-backend seam) depends on kiln-types, \
                 kiln-diagnostics and kiln-executor only"
                    .to_owned(),
            )
        }
        ("kiln-kube", "kiln-syntax" | "kiln-model") => Some(
            "kiln-kube takes plain values (kiln-types' AgentSpec), not the model or syntax"
                .to_owned(),
        ),
        _ => None,
    }
}

#[test]
fn every_dependency_keeps_the_layering() {
    let (crates, edges) = edges();
    assert!(
        crates.contains("kiln-engine") && crates.contains("kiln-testkit"),
        "cargo metadata did not list the workspace: {crates:?}"
    );
    let mut found = BTreeSet::new();
    let mut new = Vec::new();
    for edge in &edges {
        if let Some(why) = violation(edge) {
            let pair = (edge.from.as_str(), edge.to.as_str());
            if KNOWN_VIOLATIONS.contains(&pair) {
                found.insert(pair);
            } else {
                let kind = edge.kind.as_deref().unwrap_or("normal");
                new.push(format!("{} -> {} ({kind}): {why}", edge.from, edge.to));
            }
        }
    }
    assert!(
        new.is_empty(),
        "dependencies that break the layering:\n{}",
        new.join("\n")
    );
    let stale: Vec<String> = KNOWN_VIOLATIONS
        .iter()
        .filter(|pair| !found.contains(*pair))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_VIOLATIONS entries that no longer match a dependency (delete them):\n{}",
        stale.join("\n")
    );
}

/// The rules themselves, on edges made up for the purpose: each rule catches what it names.
#[test]
fn the_rules_catch_what_they_name() {
    let check = |from: &str, to: &str, kind: Option<&str>, expected: bool| {
        let edge = Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind: kind.map(str::to_owned),
        };
        assert_eq!(violation(&edge).is_some(), expected, "{edge:?}");
    };
    check("kiln-model", "tokio", None, true);
    check("kiln-plan", "kiln-executor", None, true);
    check("kiln-plan", "kiln-model", None, false);
    check("kiln-model", "insta", Some("dev"), false);
    check("kiln-config", "sled", None, true);
    check("kiln-store", "sled", None, false);
    check("kiln-scheduler", "tokio-postgres", None, true);
    check("kiln-store-pg", "tokio-postgres", None, false);
    check("kiln-store-pg", "kiln-config", None, true);
    check("kiln-server", "kiln-store-pg", None, true);
    check("kiln-cli", "kiln-store-pg", None, false);
    check("kiln-cli", "kube", None, true);
    check("kiln-kube", "kube", None, false);
    check("kiln-fake-kube", "kube", Some("dev"), false);
    check("kiln-scheduler", "kube", Some("dev"), true);
    check("kiln-engine", "kiln-store", None, true);
    check("kiln-engine", "kiln-store", Some("dev"), false);
    check("kiln-server", "kiln-cli", Some("dev"), true);
    check("kiln-cli", "kiln-server", None, false);
    check("kiln-scheduler", "kiln-server", None, true);
    check("kiln-engine", "kiln-cli", None, true);
    check("kiln-engine", "kiln-testkit", None, true);
    check("kiln-engine", "kiln-testkit", Some("dev"), false);
    check("kiln-kube", "kiln-fake-kube", None, true);
    check("kiln-kube", "kiln-model", None, true);
    check("kiln-kube", "kiln-syntax", None, true);
    check("kiln-kube", "kiln-model", Some("dev"), false);
    check("kiln-kube", "kiln-types", None, false);
    check("kiln-executor", "kiln-diagnostics", None, true);
    check("kiln-agent", "kiln-executor", None, false);
    check("kiln-store", "kiln-types", None, false);
    check("kiln-config", "serde-saphyr", None, true);
    check("kiln-yaml", "serde-saphyr", None, false);
    check("kiln-engine", "rhai", None, true);
    check("kiln-scheduler", "axum", None, true);
    check("kiln-scheduler", "kiln-kube", None, true);
    check("kiln-scheduler", "kiln-kube", Some("dev"), false);
    check("kiln-engine", "kiln-kube", None, true);
    check("kiln-server", "kiln-kube", None, true);
    check("kiln-cli", "kiln-kube", None, false);
    check("kiln-import", "kiln-kube", None, false);
    check("kiln-scheduler", "kiln-backend", None, false);
    check("kiln-kube", "kiln-backend", None, false);
    check("kiln-backend", "kiln-executor", None, false);
    check("kiln-backend", "kiln-engine", None, true);
    check("kiln-backend", "kiln-kube", None, true);
    check("kiln-server", "axum", None, false);
}
