//! The multi-arch index push against a real registry: Debian's `docker-registry` (the CNCF
//! distribution registry), installed if missing and started on 127.0.0.1 by
//! `tests/registry.sh`. A stand-in for the per-platform Kaniko builds pushes minimal but
//! valid OCI images (config + one empty tar layer); kiln then pushes the index and the test
//! reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/registry.rs"]
mod support;

use kiln_kube::{
    ImageIndex, ImageRef, OCI_INDEX, OCI_MANIFEST, OciError, Platform, Registry,
    platform_reference, push_index, sha256_digest,
};
use support::{TestRegistry, push_platform_image};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiln_pushes_the_multi_arch_index_and_reads_it_back() {
    let server = TestRegistry::start();
    let destination = ImageRef::parse(&format!("{}/team/app:1.0", server.addr)).unwrap();
    let registry = Registry::new(&destination.registry, true, None);
    let mut platforms = Vec::new();
    let mut digests = Vec::new();
    for p in ["linux/amd64", "linux/arm64", "linux/arm/v7"] {
        let platform = Platform::parse(p).unwrap();
        let reference = platform_reference(&format!("{}/team/app:1.0", server.addr), p);
        let tag = ImageRef::parse(&reference).unwrap().tag;
        assert_eq!(
            tag,
            format!("1.0-{}", p.split('/').skip(1).collect::<Vec<_>>().join("-"))
        );
        digests
            .push(push_platform_image(&registry, &destination.repository, &tag, &platform).await);
        platforms.push((platform, tag));
    }

    assert!(
        !registry
            .has_manifest(&destination.repository, "1.0")
            .await
            .unwrap(),
        "no index yet"
    );
    let index_digest = push_index(&registry, &destination, &platforms)
        .await
        .unwrap();
    assert!(
        registry
            .has_manifest(&destination.repository, "1.0")
            .await
            .unwrap()
    );

    let (media_type, body) = registry.get_manifest("team/app", "1.0").await.unwrap();
    assert_eq!(media_type, OCI_INDEX);
    assert_eq!(sha256_digest(&body), index_digest);
    let index: ImageIndex = serde_json::from_slice(&body).unwrap();
    assert_eq!(index.schema_version, 2);
    assert_eq!(index.media_type, OCI_INDEX);
    let got: Vec<_> = index
        .manifests
        .iter()
        .map(|m| {
            (
                m.digest.clone(),
                m.media_type.clone(),
                m.platform.clone().unwrap(),
            )
        })
        .collect();
    let want: Vec<_> = digests
        .iter()
        .zip(&platforms)
        .map(|(d, (p, _))| (d.clone(), OCI_MANIFEST.to_string(), p.clone()))
        .collect();
    assert_eq!(got, want);
    // The index is addressable by its digest too, and every entry resolves.
    let (_, by_digest) = registry
        .get_manifest("team/app", &index_digest)
        .await
        .unwrap();
    assert_eq!(by_digest, body);
    for m in &index.manifests {
        let d = registry
            .manifest_descriptor("team/app", &m.digest)
            .await
            .unwrap();
        assert_eq!((d.digest.as_str(), d.size), (m.digest.as_str(), m.size));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_platform_image_fails_the_push_with_the_registry_answer() {
    let server = TestRegistry::start();
    let destination = ImageRef::parse(&format!("{}/team/app:2.0", server.addr)).unwrap();
    let registry = Registry::new(&destination.registry, true, None);
    let platforms = vec![(
        Platform::parse("linux/arm64").unwrap(),
        "2.0-arm64".to_string(),
    )];
    let err = push_index(&registry, &destination, &platforms)
        .await
        .unwrap_err();
    match &err {
        OciError::Status { status, url, .. } => {
            assert_eq!(status.as_u16(), 404, "{err}");
            assert!(url.ends_with("/v2/team/app/manifests/2.0-arm64"), "{url}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(
        registry.get_manifest("team/app", "2.0").await.is_err(),
        "no index was pushed"
    );
}
