//! The server on PostgreSQL and `kiln store export`/`import`, with the real `kiln` binary
//! against a PostgreSQL server the test starts on 127.0.0.1: builds run on a sled store move
//! to PostgreSQL and back to sled byte for byte, and a server on the imported database serves
//! them and numbers on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::TestPostgres;
use std::path::Path;
use std::process::{Command, Output};
use support::*;

const PIPELINE: &str = "pipeline {\n  agent any\n  stages { stage('Hi') { steps { echo 'hello from kiln'\n sh 'printf \"\\\\377 not utf-8\\\\n\"; echo out; echo err >&2' } } }\n}\n";

/// A repository with one pipeline and a configuration of job `app` with `store` appended.
fn setup(root: &Path, store: &str) -> std::path::PathBuf {
    let repo = root.join("repo");
    if !repo.exists() {
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("Jenkinsfile"), PIPELINE).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipeline"]);
    }
    let config = root.join(format!("kiln-{}.yaml", store.len()));
    std::fs::write(
        &config,
        format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n  - name: app\n    repo: file://{}\n    jenkinsfile: Jenkinsfile\n{store}",
            repo.display()
        ),
    )
    .unwrap();
    config
}

/// `kiln store ARGS` with `KILN_TEST_DB` set to `db`.
fn store_cmd(args: &[&str], db: &str) -> Output {
    Command::new(KILN)
        .arg("store")
        .args(args)
        .env("KILN_TEST_DB", db)
        .output()
        .unwrap()
}

#[track_caller]
fn store_ok(args: &[&str], db: &str) -> String {
    let out = store_cmd(args, db);
    assert!(out.status.success(), "kiln store {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn builds_move_from_sled_to_postgres_and_back_byte_for_byte() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sled_config = setup(root, "");
    let pg_config = setup(
        root,
        "store:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\n",
    );
    let (db, db2) = (pg.new_database(), pg.new_database());

    // Two builds on the default store (sled in the data directory).
    let mut server = Server::start(root, &sled_config, "127.0.0.1:0", [("KILN_TEST_DB", "")]);
    kiln_ok(&server, &["trigger", "app", "-f"]);
    kiln_ok(&server, &["trigger", "app", "-f"]);
    let log = kiln_ok(&server, &["logs", "app#2"]);
    assert!(
        log.contains("hello from kiln") && log.contains("Finished: SUCCESS"),
        "{log}"
    );
    server.kill_9();

    let data = root.join("data");
    let (d1, d2, d3) = (
        root.join("1.dump"),
        root.join("2.dump"),
        root.join("3.dump"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let said = store_ok(&["export", &s(&d1), "--data-dir", &s(&data)], "");
    assert!(said.contains("exported 1 jobs, 2 builds"), "{said}");
    store_ok(&["import", &s(&d1), "--config", &s(&pg_config)], &db);
    store_ok(&["export", &s(&d2), "--config", &s(&pg_config)], &db);
    let back = root.join("back");
    store_ok(&["import", &s(&d2), "--data-dir", &s(&back)], "");
    store_ok(&["export", &s(&d3), "--data-dir", &s(&back)], "");
    let (b1, b2, b3) = (
        std::fs::read(&d1).unwrap(),
        std::fs::read(&d2).unwrap(),
        std::fs::read(&d3).unwrap(),
    );
    assert!(b1 == b2, "PostgreSQL's export differs from sled's");
    assert!(b1 == b3, "sled -> PostgreSQL -> sled changed the store");
    assert!(
        b1.windows(10).any(|w| w == b" not utf-8"),
        "the log's text is in the dump"
    );

    // An import refuses a store that is not empty, and a cut file.
    let again = store_cmd(&["import", &s(&d1), "--config", &s(&pg_config)], &db);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{again:?}"
    );
    let cut = root.join("cut.dump");
    std::fs::write(&cut, &b1[..b1.len() - 20]).unwrap();
    let refused = store_cmd(&["import", &s(&cut), "--config", &s(&pg_config)], &db2);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cut short"),
        "{refused:?}"
    );

    // A server on the imported database serves the builds and numbers on.
    let pg_root = root.join("pg-server");
    std::fs::create_dir_all(&pg_root).unwrap();
    let server = Server::start(
        &pg_root,
        &pg_config,
        "127.0.0.1:0",
        [("KILN_TEST_DB", db.as_str())],
    );
    assert_eq!(kiln_ok(&server, &["logs", "app#2"]), log);
    kiln_ok(&server, &["trigger", "app", "-f"]);
    let third = kiln_ok(&server, &["logs", "app#3"]);
    assert!(third.contains("Finished: SUCCESS"), "{third}");
    assert!(
        !pg_root.join("data/store").exists(),
        "a server on PostgreSQL keeps no sled store"
    );
}

#[test]
fn a_server_whose_database_is_unreachable_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = setup(
        dir.path(),
        "store:\n  postgres:\n    url_env: KILN_TEST_DB\n",
    );
    let url =
        format!("postgres://kiln:s3cret@127.0.0.1:{port}/ci?sslmode=disable&connect_timeout=2");
    let out = Command::new(KILN)
        .args(["server", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("KILN_TEST_DB", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("postgres://127.0.0.1:{port}/ci")),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let unset = Command::new(KILN)
        .args(["server", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("KILN_TEST_DB")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unset.stderr);
    assert!(stderr.contains("KILN_TEST_DB"), "{stderr}");
}

/// Archives an artifact, stashes it and publishes an HTML report.
const FILES: &str = "pipeline {\n  agent any\n  stages { stage('Files') { steps {\n    writeFile file: 'out/a.txt', text: 'artifact bytes'\n    writeFile file: 'rep/index.html', text: '<p>report</p>'\n    archiveArtifacts 'out/a.txt'\n    stash name: 'st', includes: 'out/**'\n    publishHTML([reportDir: 'rep', reportFiles: 'index.html', reportName: 'Rep', keepAll: true, allowMissing: false, alwaysLinkToLastBuild: false])\n  } } }\n}\n";

/// `GET path` on `server` as the admin: the status and the body.
fn get(server: &Server, path: &str) -> (u16, String) {
    let mut r = agent()
        .get(&format!("{}{path}", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

#[test]
fn files_kept_in_postgres_are_served_by_any_controller_and_moved_by_export() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("Jenkinsfile"), FILES).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipeline"]);
    let pg_config = setup(
        root,
        "store:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\n",
    );
    let (db, db2) = (pg.new_database(), pg.new_database());
    let on = |name: &str, db: &str| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Server::start(&dir, &pg_config, "127.0.0.1:0", [("KILN_TEST_DB", db)])
    };

    // A build on one controller; another (its own data directory, no shared volume) serves
    // its artifact and report from the database.
    let mut ran = on("ran", &db);
    kiln_ok(&ran, &["trigger", "app", "-f"]);
    let log = kiln_ok(&ran, &["logs", "app#1"]);
    assert!(log.contains("Finished: SUCCESS"), "{log}");
    let mut other = on("other", &db);
    let artifact = "/api/v1/jobs/app/builds/1/artifacts/out/a.txt";
    let report = "/api/v1/jobs/app/builds/1/reports/Rep/index.html";
    assert!(!root.join("other/data/builds/app/1").exists());
    assert_eq!(get(&other, artifact), (200, "artifact bytes".to_owned()));
    let (status, page) = get(&other, report);
    assert_eq!(
        (status, page.contains("<p>report</p>")),
        (200, true),
        "{page}"
    );
    let listed = api(&other, "/jobs/app/builds/1/reports");
    assert_eq!(listed["reports"][0]["name"], "Rep", "{listed}");
    assert_eq!(
        get(&other, "/api/v1/jobs/app/builds/1/artifacts/out/b.txt").0,
        404
    );
    ran.kill_9();
    other.kill_9();

    // Controls on their way to an owner: one answered, one pending.
    let store = kiln_store_pg::PgStore::open(&kiln_store_pg::PgOptions::new(&db)).unwrap();
    let shared = kiln_store::Store::coordination(&store).unwrap();
    let job = kiln_types::JobName::new("app").unwrap();
    kiln_store::Store::create_build(&store, &job, Default::default()).unwrap();
    shared
        .renew_lease("owner", std::time::Duration::from_secs(60))
        .unwrap();
    let claim = shared
        .claim_next("owner", &Default::default())
        .unwrap()
        .unwrap();
    let first = shared
        .send_control(&claim.build, r#"{"cancel":1}"#)
        .unwrap()
        .unwrap();
    shared
        .send_control(&claim.build, r#"{"cancel":2}"#)
        .unwrap();
    shared.answer_control(first, r#"{"ok":true}"#).unwrap();
    drop(store);

    // The database's own tables move with the dump, byte for byte.
    let (d1, d2) = (root.join("1.dump"), root.join("2.dump"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let said = store_ok(&["export", &s(&d1), "--config", &s(&pg_config)], &db);
    assert!(
        said.contains("files") && said.contains("2 controls"),
        "{said}"
    );
    store_ok(&["import", &s(&d1), "--config", &s(&pg_config)], &db2);
    store_ok(&["export", &s(&d2), "--config", &s(&pg_config)], &db2);
    let (b1, b2) = (std::fs::read(&d1).unwrap(), std::fs::read(&d2).unwrap());
    assert!(b1 == b2, "the dump of the imported database differs");
    let text = String::from_utf8_lossy(&b1);
    for kept in [
        "\"path\":\"stash/st/out/a.txt\"",
        "\"path\":\"html/Rep/index.html\"",
        "\"outcome\":\"{\\\"ok\\\":true}\"",
    ] {
        assert!(text.contains(kept), "{kept} in the dump:\n{text}");
    }
    let moved = kiln_store_pg::PgStore::open(&kiln_store_pg::PgOptions::new(&db2)).unwrap();
    let shared = kiln_store::Store::coordination(&moved).unwrap();
    let controls = shared.build_controls(&claim.build).unwrap();
    let answered: Vec<bool> = controls.iter().map(|c| c.outcome.is_some()).collect();
    assert_eq!(answered, [true, false], "{controls:?}");
    // An owner is not moved (export while no controller runs): claimed again, new
    // controls are numbered past the imported ones.
    shared
        .renew_lease("owner-2", std::time::Duration::from_secs(60))
        .unwrap();
    let again = shared
        .claim_next("owner-2", &Default::default())
        .unwrap()
        .unwrap();
    let next = shared.send_control(&again.build, "{}").unwrap().unwrap();
    assert!(
        next > controls[1].id,
        "controls are numbered past the imported ones"
    );
    drop(moved);
    let fresh = on("fresh", &db2);
    assert_eq!(get(&fresh, artifact), (200, "artifact bytes".to_owned()));

    // sled has no such tables: the import says so rather than dropping them.
    let refused = store_cmd(
        &["import", &s(&d1), "--data-dir", &s(&root.join("sled"))],
        "",
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("kiln_files"),
        "{refused:?}"
    );
}
