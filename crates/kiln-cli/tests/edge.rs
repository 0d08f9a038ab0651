//! The server's HTTP edge over real sockets against the real `kiln server`: slow clients are cut
//! off, one address cannot hold every connection, cross-origin writes and unknown hosts are
//! refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use support::{Server, wait_for};

/// An open server (no tokens) with a job `hello` and `limits` as its `server.limits`.
fn start(root: &Path, limits: &str) -> Server {
    let project = root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Jenkinsfile"),
        "pipeline { agent any\n stages { stage('A') { steps { echo 'hi' } } } }\n",
    )
    .unwrap();
    let config = root.join("kiln.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  limits: {limits}\njobs:\n  - {{ name: hello, dir: '{}' }}\n",
            project.display()
        ),
    )
    .unwrap();
    Server::start(root, &config, "127.0.0.1:0", [("KILN_TEST", "1")])
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(&server.addr).unwrap();
    // A bound on each read, not a timing assertion: the server must act well before it.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection; `Err` if it never does.
fn read_to_close(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `request` on a new connection; the whole answer.
fn exchange(server: &Server, request: &str) -> String {
    let mut stream = connect(server);
    stream.write_all(request.as_bytes()).unwrap();
    read_to_close(&mut stream).unwrap()
}

/// Regression: a client sending its headers or body slowly held its connection forever.
#[test]
fn slow_headers_and_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        "{ header_timeout_seconds: 1, body_timeout_seconds: 1 }",
    );
    let mut slow_headers = connect(&server);
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let answer = read_to_close(&mut slow_headers);
    assert!(
        answer.is_ok(),
        "the server kept a connection whose headers never ended: {answer:?}"
    );

    let mut slow_body = connect(&server);
    slow_body
        .write_all(
            b"POST /api/v1/jobs/hello/builds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"par",
        )
        .unwrap();
    let answer = read_to_close(&mut slow_body).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("the request body did not arrive within 1 seconds"),
        "{answer}"
    );
}

/// Regression: one client could open connections without bound.
#[test]
fn connections_per_client_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "{ connections_per_client: 3 }");
    let healthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&server);
        stream.write_all(healthz.as_bytes()).unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        held.push(stream);
    }
    let answer = exchange(&server, healthz);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    // A closed connection gives its slot back.
    drop(held.pop());
    wait_for("a freed connection slot", || {
        exchange(
            &server,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .starts_with("HTTP/1.1 200")
    });
}

/// Regression: in the open mode a web page could trigger builds with a cross-origin
/// `text/plain` POST, and a DNS-rebinding name was answered.
#[test]
fn cross_origin_writes_and_unknown_hosts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "{}");
    let host = &server.addr;
    let cross = exchange(
        &server,
        &format!(
            "POST /api/v1/jobs/hello/builds HTTP/1.1\r\nHost: {host}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    );
    assert!(cross.starts_with("HTTP/1.1 403"), "{cross}");
    assert!(cross.contains("cross-origin request refused"), "{cross}");
    let rebound = exchange(
        &server,
        "GET /api/v1/jobs HTTP/1.1\r\nHost: rebind.evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    let own = exchange(
        &server,
        &format!(
            "POST /api/v1/jobs/hello/builds HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    );
    assert!(own.starts_with("HTTP/1.1 201"), "{own}");
    let builds = support::api(&server, "/jobs/hello/builds");
    assert_eq!(builds["builds"].as_array().unwrap().len(), 1, "{builds}");
}
