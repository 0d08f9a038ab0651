//! The manifests in deploy/: valid for Kubernetes 1.32 with no unknown field
//! (`kubernetes-validate --strict`), and kiln's own pod passing Pod Security "restricted".

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a missing manifest or tool should fail the test"
)]

use std::path::{Path, PathBuf};

use kiln_fake_kube::pod_security::{Level, violations};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every Kubernetes manifest in deploy/ (kiln.yaml is kiln's configuration, kustomization.yaml
/// kustomize's).
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name != "kiln.yaml" && name != "kustomization.yaml"
        })
        .collect();
    files.sort();
    files
}

fn validator() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubernetes-validate is not installed (not on PATH): this test checks deploy/ \
                 against the Kubernetes 1.32 schemas with it; install it with \
                 `pip install kubernetes-validate` (as .ci/run does)"
            )
        })
}

#[test]
fn deploy_manifests_pass_strict_schema_validation() {
    let files = manifests();
    assert!(files.len() >= 8, "{files:?}");
    let out = std::process::Command::new(validator())
        .args(["--strict", "--kubernetes-version", "1.32.0", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kiln_statefulset_passes_pod_security_restricted() {
    let text = std::fs::read_to_string(deploy_dir().join("statefulset.yaml")).unwrap();
    let statefulset: Value = kiln_yaml::parse_tree(&text).unwrap().to_json();
    let spec = &statefulset["spec"]["template"]["spec"];
    assert!(spec["containers"].is_array(), "{statefulset}");
    assert_eq!(violations(Level::Restricted, spec), Vec::<String>::new());
}

#[test]
fn network_policy_ships_with_the_kustomization() {
    let text = std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap();
    let kustomization = kiln_yaml::parse_tree(&text).unwrap().to_json();
    let resources = kustomization["resources"].as_array().unwrap();
    for file in manifests() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name != "secret.example.yaml" {
            assert!(
                resources.iter().any(|r| r.as_str() == Some(&name)),
                "{name} is not in kustomization.yaml"
            );
        }
    }
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/pin-images.sh` of the repository at `root`, with `args`, `path` put first on
/// PATH; its exit status, stdout and stderr.
fn pin_images(root: &Path, path: Option<&Path>, args: &[&str]) -> (bool, String, String) {
    let mut search =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect::<Vec<_>>();
    if let Some(first) = path {
        search.insert(0, first.to_path_buf());
    }
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/pin-images.sh"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("PATH", std::env::join_paths(search).unwrap())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(file, image)` of every image reference under `path` the script finds.
fn listed_refs(root: &Path, path: &str) -> Vec<(String, String)> {
    let (ok, stdout, stderr) = pin_images(root, None, &["--list", path]);
    assert!(ok, "{stderr}");
    stdout
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            let file = parts.next().unwrap().to_owned();
            let _line = parts.next().unwrap();
            (file, parts.next().unwrap().to_owned())
        })
        .collect()
}

/// deploy/unpinned-images.txt: `(image, kind, reason)`.
fn allowlist(root: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(root.join("deploy/unpinned-images.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let image = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap_or_default().to_owned();
            let reason = parts.next().unwrap_or_default().trim().to_owned();
            (image, kind, reason)
        })
        .collect()
}

fn is_pinned(image: &str) -> bool {
    image.rsplit_once("@sha256:").is_some_and(|(_, digest)| {
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// The images deploy/ names, read here without the script: the StatefulSet's containers,
/// kiln.yaml's agent, Kaniko and template images, the Dockerfile's bases.
fn known_images() -> Vec<String> {
    let read = |name: &str| std::fs::read_to_string(deploy_dir().join(name)).unwrap();
    let statefulset = kiln_yaml::parse_tree(&read("statefulset.yaml"))
        .unwrap()
        .to_json();
    let kiln = kiln_yaml::parse_tree(&read("kiln.yaml")).unwrap().to_json();
    let kube = &kiln["executors"]["kubernetes"];
    let mut images: Vec<String> = Vec::new();
    let spec = &statefulset["spec"]["template"]["spec"];
    for list in [&spec["initContainers"], &spec["containers"]] {
        for c in list.as_array().into_iter().flatten() {
            images.push(c["image"].as_str().unwrap().to_owned());
        }
    }
    images.push(kube["agent_image"].as_str().unwrap().to_owned());
    images.push(kube["kaniko"]["image"].as_str().unwrap().to_owned());
    for template in kube["templates"].as_array().unwrap() {
        for c in template["containers"].as_array().into_iter().flatten() {
            images.push(c["image"].as_str().unwrap().to_owned());
        }
    }
    for line in read("Dockerfile").lines() {
        if let Some(rest) = line.strip_prefix("FROM ") {
            let image = rest.split_whitespace().next().unwrap();
            if image != "scratch" {
                images.push(image.to_owned());
            }
        }
    }
    images
}

/// Issue 15 item 7: the shipped images are pinned by digest, or listed with why not yet.
#[test]
fn every_image_in_deploy_is_pinned_or_listed_with_a_reason() {
    let root = repo_dir();
    let found = listed_refs(&root, "deploy");
    let images: Vec<&str> = found.iter().map(|(_, image)| image.as_str()).collect();
    // The script misses none of the images this test knows of.
    let known = known_images();
    assert!(known.len() >= 8, "{known:?}");
    for image in &known {
        assert!(
            images.contains(&image.as_str()),
            "the script misses {image}: {found:?}"
        );
    }
    let allowed = allowlist(&root);
    for (image, kind, reason) in &allowed {
        assert!(
            kind == "keep" || kind == "pending",
            "deploy/unpinned-images.txt: {image}: kind `{kind}` is neither keep nor pending"
        );
        assert!(
            reason.len() >= 20,
            "deploy/unpinned-images.txt: {image} gives no reason"
        );
        assert!(
            images.contains(&image.as_str()),
            "deploy/unpinned-images.txt lists {image}, which deploy/ no longer names"
        );
    }
    for (file, image) in &found {
        assert!(
            is_pinned(image) || allowed.iter().any(|(a, _, _)| a == image),
            "{file}: {image} is neither pinned by digest (scripts/pin-images.sh) nor listed \
             in deploy/unpinned-images.txt with a reason"
        );
    }
}

/// A copy of the repository's deploy/ and scripts/pin-images.sh in a temporary directory,
/// and a directory for stand-ins of `crane`.
fn pin_sandbox() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["deploy", "scripts", "bin"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for entry in std::fs::read_dir(deploy_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(
                &path,
                dir.path().join("deploy").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    std::fs::copy(
        repo_dir().join("scripts/pin-images.sh"),
        dir.path().join("scripts/pin-images.sh"),
    )
    .unwrap();
    let bin = dir.path().join("bin");
    (dir, bin)
}

fn write_crane(bin: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let crane = bin.join("crane");
    std::fs::write(&crane, script).unwrap();
    std::fs::set_permissions(&crane, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What the stand-in `crane digest REF` answers: a digest made from the reference.
fn stand_in_digest(image: &str) -> String {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "printf %s \"$1\" | sha256sum | cut -c1-64",
            "sh",
            image,
        ])
        .output()
        .unwrap();
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).trim())
}

/// Undoes the sandbox's pins: every pinned third-party reference loses its digest and is
/// listed `pending`, as before the images were pinned; the references unpinned.
fn unpin(root: &Path) -> Vec<String> {
    let mut unpinned: Vec<String> = Vec::new();
    for (file, image) in listed_refs(root, "deploy") {
        let Some((tag, _)) = image.split_once("@sha256:") else {
            continue;
        };
        let path = root.join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(&image, tag)).unwrap();
        if !unpinned.iter().any(|u| u == tag) {
            unpinned.push(tag.to_owned());
        }
    }
    let list = root.join("deploy/unpinned-images.txt");
    let mut text = std::fs::read_to_string(&list).unwrap();
    for tag in &unpinned {
        text.push_str(&format!("{tag} pending unpinned again by this test\n"));
    }
    std::fs::write(&list, text).unwrap();
    unpinned
}

/// The script rewrites each pending image to `REF@DIGEST` with the digest `crane` reads
/// (here a stand-in answering made-up digests, since the test has no registry), drops its
/// line from the allowlist and leaves kiln's own images alone; a second run changes nothing.
#[test]
fn the_pin_script_pins_pending_images_with_the_digest_read_and_keeps_the_others() {
    let (dir, bin) = pin_sandbox();
    let root = dir.path();
    let unpinned = unpin(root);
    assert!(unpinned.len() >= 6, "{unpinned:?}");
    write_crane(
        &bin,
        "#!/bin/sh\n[ \"$1\" = digest ] || exit 2\nprintf 'sha256:%s\\n' \"$(printf %s \"$2\" | sha256sum | cut -c1-64)\"\n",
    );
    let before = allowlist(root);
    let (ok, stdout, stderr) = pin_images(root, Some(&bin), &["deploy"]);
    assert!(ok, "{stdout}{stderr}");
    let after = allowlist(root);
    assert!(after.iter().all(|(_, kind, _)| kind == "keep"), "{after:?}");
    let found = listed_refs(root, "deploy");
    for (image, kind, _) in &before {
        let refs: Vec<&String> = found
            .iter()
            .filter(|(_, r)| r.split('@').next() == Some(image.as_str()))
            .map(|(_, r)| r)
            .collect();
        assert!(!refs.is_empty(), "{image}: {found:?}");
        for r in refs {
            if kind == "keep" {
                assert_eq!(r, image);
            } else {
                assert_eq!(*r, format!("{image}@{}", stand_in_digest(image)));
            }
        }
    }
    assert!(
        found
            .iter()
            .all(|(_, r)| is_pinned(r) || after.iter().any(|(a, _, _)| a == r))
    );
    let (ok, stdout, _) = pin_images(root, Some(&bin), &["deploy"]);
    assert!(ok && stdout.contains("0 reference(s) pinned"), "{stdout}");
}

/// `--refresh` reads the digest of each pinned reference's tag again and writes it where it
/// moved (the stand-in `crane` answers a digest other than the shipped one); kiln's own images
/// stay as they are, and a run without `--refresh` leaves pinned references alone.
#[test]
fn the_pin_script_refreshes_the_digests_of_pinned_tags() {
    let (dir, bin) = pin_sandbox();
    let root = dir.path();
    write_crane(
        &bin,
        "#!/bin/sh\n[ \"$1\" = digest ] || exit 2\nprintf 'sha256:%s\\n' \"$(printf %s \"$2\" | sha256sum | cut -c1-64)\"\n",
    );
    let shipped = listed_refs(root, "deploy");
    let (ok, stdout, stderr) = pin_images(root, Some(&bin), &["deploy"]);
    assert!(
        ok && stdout.contains("0 reference(s) pinned"),
        "{stdout}{stderr}"
    );
    let (ok, stdout, stderr) = pin_images(root, Some(&bin), &["--refresh", "deploy"]);
    assert!(ok, "{stdout}{stderr}");
    let refreshed = listed_refs(root, "deploy");
    assert_eq!(shipped.len(), refreshed.len());
    let mut moved = 0;
    for ((file, was), (_, now)) in shipped.iter().zip(&refreshed) {
        match was.split_once('@') {
            Some((tag, _)) => {
                assert_eq!(*now, format!("{tag}@{}", stand_in_digest(tag)), "{file}");
                moved += 1;
            }
            None => assert_eq!(now, was, "{file}: kiln's own images stay"),
        }
    }
    assert!(moved >= 6, "{refreshed:?}");
    assert!(
        stdout.contains(&format!("{moved} reference(s) pinned")),
        "{stdout}"
    );
}

/// No digest can be read (no registry): the script says which image and changes nothing.
#[test]
fn without_a_digest_the_pin_script_fails_and_changes_nothing() {
    let (dir, bin) = pin_sandbox();
    let root = dir.path();
    unpin(root);
    write_crane(
        &bin,
        "#!/bin/sh\necho 'no route to the registry' >&2\nexit 1\n",
    );
    let read = |name: &str| std::fs::read_to_string(root.join("deploy").join(name)).unwrap();
    let before: Vec<String> = ["kiln.yaml", "Dockerfile", "unpinned-images.txt"]
        .iter()
        .map(|n| read(n))
        .collect();
    let (ok, _, stderr) = pin_images(root, Some(&bin), &["deploy"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read the digest of rust:1.98.1-bookworm (deploy/Dockerfile:"),
        "{stderr}"
    );
    let after: Vec<String> = ["kiln.yaml", "Dockerfile", "unpinned-images.txt"]
        .iter()
        .map(|n| read(n))
        .collect();
    assert_eq!(before, after);
}
