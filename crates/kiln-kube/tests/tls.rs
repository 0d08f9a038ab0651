//! kiln reaches API servers over HTTPS (kube's rustls feature with the ring provider): a
//! client made from an `https://` kubeconfig opens the connection with a TLS ClientHello.
//! (The fake cluster serves plain HTTP, so the other tests do not cover this.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::AsyncReadExt;

#[tokio::test]
async fn an_https_api_server_is_spoken_to_in_tls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-tls-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {url}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    // kiln's own client stack (its connector, kube's TLS).
    let client = kiln_kube::limited_client(config, &kiln_kube::ApiLimits::default())
        .expect("a client for an https server");
    let request = tokio::spawn(async move { client.apiserver_version().await });
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut head = [0_u8; 3];
    stream.read_exact(&mut head).await.unwrap();
    // A TLS record of type handshake (22), protocol version 3.x: the ClientHello.
    assert_eq!((head[0], head[1]), (0x16, 0x03), "{head:?}");
    drop(stream);
    assert!(request.await.unwrap().is_err());
}
