use kiln_executor::{ANT_DEFAULT_EXCLUDES, ExecError, Executor, LocalExecutor};
use std::path::{Path, PathBuf};

/// A workspace holding a small Maven-like tree.
fn fixture() -> (tempfile::TempDir, LocalExecutor) {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "a.xml",
        "build.gradle",
        "target/app.jar",
        "target/lib/dep.jar",
        "target/surefire-reports/TEST-foo.xml",
        "target/surefire-reports/TEST-bar.xml",
        "target/surefire-reports/foo.txt",
        "module/target/surefire-reports/TEST-baz.xml",
        "dist/z.txt",
        "dist/x/y.bin",
        ".git/config",
        "notes.txt~",
        "weird[1].txt",
    ];
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file).unwrap();
    }
    let executor = LocalExecutor::new(dir.path().to_path_buf());
    (dir, executor)
}

fn strings(patterns: &str) -> Vec<String> {
    patterns
        .split(';')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lists the fixture with `;`-separated includes and excludes and compares the paths.
#[track_caller]
fn check(includes: &str, excludes: &str, expected: &[&str]) {
    let (_dir, executor) = fixture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let found = runtime
        .block_on(executor.list_files(Path::new("."), &strings(includes), &strings(excludes)))
        .unwrap();
    let paths: Vec<&str> = found.iter().map(|f| f.path.to_str().unwrap()).collect();
    assert_eq!(
        paths, expected,
        "includes {includes:?}, excludes {excludes:?}"
    );
}

#[test]
fn list_files_follows_ant_patterns() {
    let reports = [
        "module/target/surefire-reports/TEST-baz.xml",
        "target/surefire-reports/TEST-bar.xml",
        "target/surefire-reports/TEST-foo.xml",
    ];
    check("**/*.xml", "", &[&["a.xml"][..], &reports].concat());
    check("*.xml", "", &["a.xml"]);
    check("?.xml", "", &["a.xml"]);
    check("**/TEST-*.xml", "", &reports);
    check("target/*.jar", "", &["target/app.jar"]);
    check(
        "target/**/*.jar",
        "",
        &["target/app.jar", "target/lib/dep.jar"],
    );
    check("target\\*.jar", "", &["target/app.jar"]);
    check("dist/", "", &["dist/x/y.bin", "dist/z.txt"]);
    check("dist/**", "", &["dist/x/y.bin", "dist/z.txt"]);
    check("dist", "", &[]);
    check("a.xml, build.gradle", "", &["a.xml", "build.gradle"]);
    check("a.xml;build.gradle", "", &["a.xml", "build.gradle"]);
    check("weird[1].txt", "", &["weird[1].txt"]);
    check("**/*.XML", "", &[]);
    check("**/TEST-*.xml", "module/", &reports[1..]);
    check("**/TEST-*.xml", "**/module/**", &reports[1..]);
    check("**/*.xml", "**/TEST-*.xml", &["a.xml"]);
    check("dist/**", "**/*.bin", &["dist/z.txt"]);
}

#[test]
fn no_includes_means_every_file_and_default_excludes_are_opt_in() {
    let everything = [
        ".git/config",
        "a.xml",
        "build.gradle",
        "dist/x/y.bin",
        "dist/z.txt",
        "module/target/surefire-reports/TEST-baz.xml",
        "notes.txt~",
        "target/app.jar",
        "target/lib/dep.jar",
        "target/surefire-reports/TEST-bar.xml",
        "target/surefire-reports/TEST-foo.xml",
        "target/surefire-reports/foo.txt",
        "weird[1].txt",
    ];
    check("", "", &everything);
    let defaults = ANT_DEFAULT_EXCLUDES.join(";");
    let without: Vec<&str> = everything
        .iter()
        .copied()
        .filter(|p| !p.starts_with(".git") && !p.ends_with('~'))
        .collect();
    check("**", &defaults, &without);
}

#[tokio::test]
async fn list_files_reports_sizes_relative_to_the_directory() {
    let (_dir, executor) = fixture();
    let found = executor
        .list_files(Path::new("target"), &strings("**/*.jar"), &[])
        .await
        .unwrap();
    let found: Vec<(PathBuf, u64)> = found.into_iter().map(|f| (f.path, f.size)).collect();
    assert_eq!(
        found,
        [
            (PathBuf::from("app.jar"), "target/app.jar".len() as u64),
            (
                PathBuf::from("lib/dep.jar"),
                "target/lib/dep.jar".len() as u64
            ),
        ]
    );
    let missing = executor
        .list_files(Path::new("nowhere"), &strings("**"), &[])
        .await
        .unwrap();
    assert!(missing.is_empty());
}

#[tokio::test]
async fn list_files_stays_inside_the_tree() {
    let (dir, executor) = fixture();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.xml"), "x").unwrap();
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap()
    };
    link(outside.path(), "escape");
    link(&outside.path().join("secret.xml"), "secret.xml");
    link(&dir.path().join("target"), "target-link");
    link(&dir.path().join("a.xml"), "b.xml");
    link(dir.path(), "loop");
    link(&dir.path().join("gone"), "dangling.xml");
    let found = executor
        .list_files(Path::new("."), &strings("*.xml;*/*.jar"), &[])
        .await
        .unwrap();
    let paths: Vec<&str> = found.iter().map(|f| f.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["a.xml", "b.xml", "target/app.jar", "target-link/app.jar"]
    );
}

#[tokio::test]
async fn glob_metacharacters_other_than_wildcards_are_literal() {
    let (_dir, executor) = fixture();
    let error = executor
        .list_files(Path::new("."), &strings("a/**b/**/[["), &[])
        .await;
    // Ant has no character classes, so even this is a valid (literal) pattern.
    assert!(error.is_ok(), "{error:?}");
}

#[tokio::test]
async fn files_are_written_read_checked_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let executor = LocalExecutor::new(dir.path().to_path_buf());
    assert_eq!(executor.describe(), "local");
    assert_eq!(executor.workspace(), dir.path());

    let nested = Path::new("out/deep/file.txt");
    executor.write_file(nested, b"payload").await.unwrap();
    assert_eq!(executor.read_file(nested).await.unwrap(), b"payload");
    assert_eq!(std::fs::read(dir.path().join(nested)).unwrap(), b"payload");
    assert!(executor.file_exists(nested).await.unwrap());
    assert!(
        executor
            .file_exists(&dir.path().join(nested))
            .await
            .unwrap()
    );

    executor.create_dir(Path::new("empty/too")).await.unwrap();
    assert!(dir.path().join("empty/too").is_dir());

    executor.delete_dir(Path::new("out")).await.unwrap();
    assert!(!executor.file_exists(nested).await.unwrap());
    assert!(!dir.path().join("out").exists());
    executor.delete_dir(Path::new("out")).await.unwrap();

    match executor.read_file(Path::new("missing.txt")).await {
        Err(ExecError::File { op, path, source }) => {
            assert_eq!(op, "read");
            assert_eq!(path, dir.path().join("missing.txt"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a file error, got {other:?}"),
    }
}
