//! Test support shared by the registry tests and the end-to-end tests: a real OCI registry
//! (Debian's `docker-registry`, started by `tests/registry.sh`) and what a Kaniko stand-in
//! pushes for one platform.

#![allow(dead_code)]

use bytes::Bytes;
use kiln_kube::{OCI_MANIFEST, Platform, Registry, sha256_digest};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A registry process on 127.0.0.1, killed (and its storage removed) on drop.
pub struct TestRegistry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        let dir = tempfile::Builder::new()
            .prefix("kiln-kube-registry-")
            .tempdir()
            .unwrap();
        // Through `..`, so the end-to-end tests of kiln-cli can use this file too.
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kiln-kube/tests/registry.sh"
        );
        let mut child = Command::new("sh")
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tests/registry.sh");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Keep reading after start-up: a closed pipe would kill the registry (SIGPIPE)
                // at its next log line.
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let addr = loop {
            match rx.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        break rest.split(['"', ' ']).next().unwrap().to_string();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the test registry did not start (tests/registry.sh installs Debian's docker-registry when missing, which needs root and apt):\n{}",
                        seen.join("\n")
                    );
                }
            }
        };
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        TestRegistry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the Kaniko stand-in pushes for one platform: a valid single-layer OCI image.
pub async fn push_platform_image(
    registry: &Registry,
    repository: &str,
    tag: &str,
    platform: &Platform,
) -> String {
    let layer = Bytes::from(vec![0u8; 1024]); // An empty tar archive: two zero blocks.
    let layer_digest = registry.push_blob(repository, layer.clone()).await.unwrap();
    let config = Bytes::from(
        serde_json::to_vec(&json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]},
        }))
        .unwrap(),
    );
    let config_digest = registry
        .push_blob(repository, config.clone())
        .await
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    });
    registry
        .put_manifest(
            repository,
            tag,
            OCI_MANIFEST,
            Bytes::from(serde_json::to_vec(&manifest).unwrap()),
        )
        .await
        .unwrap()
}
