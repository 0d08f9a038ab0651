//! A PostgreSQL server of the test's own: [`TestPostgres`] makes a cluster in a temporary
//! directory with Debian's server programs (`initdb`, `postgres`), listens on 127.0.0.1 on a
//! free port, and stops when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The database role tests connect as (trusted on loopback; no password).
pub const TEST_ROLE: &str = "kiln";

/// A running PostgreSQL server, stopped (and its files removed) on drop.
pub struct TestPostgres {
    bin: PathBuf,
    port: u16,
    child: Child,
    /// Owned by the server's user when the test runs as root.
    dir: tempfile::TempDir,
    databases: std::sync::atomic::AtomicUsize,
}

impl TestPostgres {
    /// Makes and starts a cluster. Panics, saying what to install, when PostgreSQL's server
    /// programs are missing (Debian's `postgresql` package; `KILN_PG_BIN` names another
    /// directory of them): a test needing PostgreSQL fails without it, never passes.
    /// As root (initdb refuses it), the server runs as the `postgres` user.
    pub fn start() -> TestPostgres {
        Self::start_with(false, false)
    }

    /// As [`TestPostgres::start`], with PostgreSQL's own durability on (`fsync`, as a real
    /// server has it): for benchmarks that compare stores, each durable before it answers.
    pub fn start_durable() -> TestPostgres {
        Self::start_with(false, true)
    }

    /// As [`TestPostgres::start`], with TLS on: a certificate for `localhost` and 127.0.0.1
    /// signed by a CA of the test's own ([`TestPostgres::ca_file`]), made with the `openssl`
    /// command (a test fails without it).
    pub fn start_tls() -> TestPostgres {
        Self::start_with(true, false)
    }

    /// The CA that signed a [`TestPostgres::start_tls`] server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(tls: bool, durable: bool) -> TestPostgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let as_root = is_root();
        if as_root {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(as_server(&bin.join("initdb"), as_root)
            .arg("-D")
            .arg(&data)
            .args(["-U", TEST_ROLE, "--auth=trust", "-E", "UTF8", "--no-locale"])
            .args(["--no-sync"]));
        let mut settings = vec!["max_connections=200".to_owned()];
        if !durable {
            // PostgreSQL's own durability (fsync) is not what kiln's tests check.
            settings.push("fsync=off".to_owned());
        }
        if tls {
            make_certificates(dir.path(), as_root);
            let file = |name: &str| dir.path().join(name).display().to_string();
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", file("server.crt")));
            settings.push(format!("ssl_key_file={}", file("server.key")));
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log"))
            .unwrap_or_else(|e| panic!("cannot create the server's log: {e}"));
        let child = as_server(&bin.join("postgres"), as_root)
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.join("postgres").display()));
        let mut server = TestPostgres {
            bin,
            port,
            child,
            dir,
            databases: std::sync::atomic::AtomicUsize::new(0),
        };
        server.wait_ready();
        server
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of database `db`, without TLS (`sslmode=disable`).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{TEST_ROLE}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Creates a new, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        let n = self
            .databases
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("kiln_test_{n}");
        run(Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", TEST_ROLE, &name]));
        self.url(&name)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "PostgreSQL exited at start ({status}): {}",
                    self.server_log()
                );
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections within {START_TIMEOUT:?}: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown (sessions ended, no waiting for clients).
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory of PostgreSQL's server programs: `KILN_PG_BIN`, or the newest
/// `/usr/lib/postgresql/N/bin` (where Debian puts them).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server programs (initdb, postgres) are not installed: install \
             Debian's `postgresql` package (.ci/run does), or set KILN_PG_BIN to their directory"
        ),
    }
}

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1, in `dir`.
fn make_certificates(dir: &Path, as_root: bool) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (install it): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=kiln test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    let extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                      keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), extensions)
        .unwrap_or_else(|e| panic!("cannot write the certificate's extensions: {e}"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "server.crt",
        "-extfile",
        "server.ext",
    ]);
    // PostgreSQL refuses a key others can read, or one its user does not own.
    run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
    if as_root {
        run(Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.join("server.key"))
            .arg(dir.join("server.crt")));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program`, run as the `postgres` user when the test runs as root.
fn as_server(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read a bound address: {e}"))
        .port()
}
