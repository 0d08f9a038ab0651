//! `store:`: what good sections decode to, and the diagnostics of bad ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{PostgresConfig, SecretSource, StoreConfig, parse};
use kiln_diagnostics::RenderOptions;

fn store(text: &str) -> StoreConfig {
    parse("kiln.yaml", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .store
}

#[test]
fn without_a_store_section_the_store_is_sled() {
    assert_eq!(store("jobs: []\n"), StoreConfig::Sled);
    assert_eq!(store("store:\n"), StoreConfig::Sled);
}

#[test]
fn postgres_sections_decode() {
    assert_eq!(
        store("store:\n  postgres:\n    url_env: KILN_DATABASE_URL\n"),
        StoreConfig::Postgres(PostgresConfig {
            url: SecretSource::Env("KILN_DATABASE_URL".into()),
            pool: 16,
            ca_file: None,
            files_dir: None,
        })
    );
    let StoreConfig::Postgres(pg) = store(
        "store:\n  postgres:\n    url: postgres://kiln:pw@db:5432/kiln\n    pool: 4\n    ca_file: /etc/kiln/ca.pem\n",
    ) else {
        panic!("not postgres")
    };
    assert_eq!(pg.pool, 4);
    assert_eq!(
        pg.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/kiln/ca.pem"))
    );
    assert!(
        !format!("{pg:?}").contains("pw@"),
        "the URL's password shows in {pg:?}"
    );
    let StoreConfig::Postgres(pg) = store("store:\n  postgres:\n    url_file: /run/secrets/db\n")
    else {
        panic!("not postgres")
    };
    let cfg = parse(
        "kiln.yaml",
        "store:\n  postgres:\n    url_file: /run/secrets/db\n",
    )
    .unwrap();
    assert!(
        cfg.secret_files().contains(&"/run/secrets/db".into()),
        "builds must not read it"
    );
    assert_eq!(pg.url, SecretSource::File("/run/secrets/db".into()));
}

#[test]
fn bad_store_sections_are_reported_at_their_values() {
    let cases = [
        "store:\n  postgress:\n    url: x\n",
        "store:\n  postgres:\n    pool: 0\n    url: mysql://db\n",
        "store:\n  postgres:\n    pool: 4000\n    ca_file: [a]\n",
        "store:\n  postgres:\n    pool: 4\n",
        "store:\n  postgres:\n    url: postgres://db/kiln\n    url_env: DB\n",
        "store: postgres\n",
    ];
    let rendered: Vec<String> = cases
        .iter()
        .map(|text| {
            let err = parse("kiln.yaml", text).expect_err("the configuration should be refused");
            format!("{text}---\n{}", err.render(RenderOptions::default()))
        })
        .collect();
    insta::assert_snapshot!(rendered.join("\n=====\n"));
}

#[test]
fn files_dir_is_an_absolute_path() {
    let StoreConfig::Postgres(pg) =
        store("store:\n  postgres:\n    url_env: DB\n    files_dir: /srv/kiln-files\n")
    else {
        panic!("not postgres")
    };
    assert_eq!(
        pg.files_dir.as_deref(),
        Some(std::path::Path::new("/srv/kiln-files"))
    );
    let err = parse(
        "kiln.yaml",
        "store:\n  postgres:\n    url_env: DB\n    files_dir: files\n",
    )
    .expect_err("a relative files_dir is refused");
    let text = err.render(RenderOptions::default());
    assert!(
        text.contains("store.postgres.files_dir") && text.contains("an absolute path"),
        "{text}"
    );
}
