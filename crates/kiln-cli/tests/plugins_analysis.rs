//! End-to-end tests of the retired analysis-core steps (`checkstyle`, `pmd`, `findbugs`,
//! `warnings`): the real `kiln` binary runs them with `kiln run` over reports written in
//! the workspace, and their legacy thresholds decide the build's result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::*;

/// `kiln run Jenkinsfile` in `ws` (the pipeline written there first), without colours.
fn run(ws: &Path, pipeline: &str) -> Output {
    std::fs::write(ws.join("Jenkinsfile"), pipeline).unwrap();
    Command::new(KILN)
        .args(["run", "Jenkinsfile"])
        .current_dir(ws)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .unwrap()
}

fn write(ws: &Path, path: &str, text: &str) {
    let p = ws.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A Checkstyle report of kiln's own: two errors, one warning and one info in two files.
const CHECKSTYLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<checkstyle version="10.12.0">
  <file name="src/main/java/shop/Cart.java">
    <error line="12" column="5" severity="error" message="Line is longer than 120 characters" source="com.puppycrawl.tools.checkstyle.checks.sizes.LineLengthCheck"/>
    <error line="30" severity="warning" message="'total' hides a field" source="com.puppycrawl.tools.checkstyle.checks.coding.HiddenFieldCheck"/>
  </file>
  <file name="src/main/java/shop/Price.java">
    <error line="3" severity="error" message="Unused import - java.util.List" source="com.puppycrawl.tools.checkstyle.checks.imports.UnusedImportsCheck"/>
    <error line="8" severity="info" message="Missing a Javadoc comment" source="com.puppycrawl.tools.checkstyle.checks.javadoc.MissingJavadocMethodCheck"/>
  </file>
</checkstyle>
"#;

fn assert_lines(stdout: &str, lines: &[&str]) {
    for line in lines {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

/// The call as Jenkins' snippet generator wrote it (empty strings everywhere): the default
/// report pattern, every report counted, the unused options named, the build unchanged.
#[test]
fn checkstyle_with_the_snippet_generators_arguments_reads_the_default_report() {
    let ws = tempfile::tempdir().unwrap();
    write(ws.path(), "target/checkstyle-result.xml", CHECKSTYLE);
    write(ws.path(), "module/target/checkstyle-result.xml", CHECKSTYLE);
    let out = run(
        ws.path(),
        "node {
    stage('Analyse') {
        checkstyle canComputeNew: false, defaultEncoding: '', healthy: '', pattern: '', unHealthy: ''
    }
}
",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_lines(
        &stdout,
        &[
            "[Analyse] [checkstyle] `canComputeNew` is not used by kiln: new warnings need a reference build, which kiln does not keep; not evaluated\n",
            "[Analyse] [checkstyle] `healthy` is not used by kiln: builds have no health report\n",
            "[Analyse] [checkstyle] `unHealthy` is not used by kiln: builds have no health report\n",
            "[Analyse] [checkstyle] `defaultEncoding` is not used by kiln: reports are read as UTF-8\n",
            "[Analyse] [CheckStyle] Searching for all files that match the pattern '**/checkstyle-result.xml': found 2\n",
            "[Analyse] [CheckStyle] Total issues: 8 (error: 4, high: 0, normal: 2, low: 2)\n",
            "[Analyse] [checkstyle] No threshold exceeded\n",
        ],
    );
    assert!(stdout.ends_with("Finished: SUCCESS\n"), "{stdout}");
}

/// `unstableTotalAll: '3'` allows three warnings; the fourth makes the build UNSTABLE.
/// `failedTotalHigh` counts errors: two are allowed here.
#[test]
fn checkstyle_thresholds_make_the_build_unstable_or_failed() {
    let ws = tempfile::tempdir().unwrap();
    write(ws.path(), "build/cs.xml", CHECKSTYLE);
    let out = run(
        ws.path(),
        "pipeline {
    agent any
    stages {
        stage('Lint') {
            steps {
                checkstyle pattern: 'build/cs.xml', unstableTotalAll: '3', failedTotalHigh: '2', unstableNewAll: '0'
            }
        }
    }
}
",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_lines(
        &stdout,
        &[
            "[Lint] [CheckStyle] Total issues: 4 (error: 2, high: 0, normal: 1, low: 1)\n",
            "[Lint] [checkstyle] `unstableNewAll` is not used by kiln: new warnings need a reference build",
            "[Lint] [checkstyle] 4 warning(s) exceed unstableTotalAll: 3: build UNSTABLE\n",
        ],
    );
    assert!(stdout.ends_with("Finished: UNSTABLE\n"), "{stdout}");

    let out = run(
        ws.path(),
        "node {
    stage('Lint') {
        checkstyle pattern: 'build/cs.xml', unstableTotalAll: '3', failedTotalHigh: '1'
    }
    stage('After') {
        echo 'still running'
    }
}
",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_lines(
        &stdout,
        &[
            "[Lint] [checkstyle] 2 warning(s) exceed failedTotalHigh: 1: build FAILURE\n",
            // Like Jenkins' publishers, a threshold marks the build; it does not stop it.
            "[After] still running\n",
        ],
    );
    assert!(stdout.ends_with("Finished: FAILURE\n"), "{stdout}");
}

/// A failed build skips the step unless `canRunOnFailed: true`; `pmd` and `findbugs` read
/// their formats; `warnings` reads each parser's files and names what it cannot read.
#[test]
fn pmd_findbugs_and_warnings_run_and_a_failed_build_skips_them() {
    let ws = tempfile::tempdir().unwrap();
    write(
        ws.path(),
        "target/pmd.xml",
        r#"<pmd version="6.55.0"><file name="src/A.java">
<violation beginline="4" priority="1" rule="UnusedImports">Unused import</violation>
<violation beginline="9" priority="3" rule="ShortVariable">Short name</violation></file></pmd>"#,
    );
    write(
        ws.path(),
        "target/findbugsXml.xml",
        r#"<BugCollection><BugInstance type="NP_NULL" priority="1" category="CORRECTNESS"><SourceLine classname="A" start="3" sourcepath="A.java"/></BugInstance></BugCollection>"#,
    );
    write(
        ws.path(),
        "logs/javac.log",
        "[WARNING] /w/src/A.java:[12,5] unchecked conversion\n[ERROR] /w/src/B.java:[3,1] cannot find symbol\n",
    );
    let out = run(
        ws.path(),
        "node {
    stage('Analyse') {
        catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') { error 'tests failed' }
        pmd pattern: 'target/pmd.xml'
        findbugs canRunOnFailed: true, pattern: '**/findbugsXml.xml', isRankActivated: true
        warnings canRunOnFailed: true, consoleParsers: [[parserName: 'Maven']],
                 parserConfigurations: [[parserName: 'Java Compiler (javac)', pattern: 'logs/*.log'], [parserName: 'Doxygen', pattern: 'x']],
                 failedTotalAll: '5'
    }
}
",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_lines(
        &stdout,
        &[
            "[Analyse] [pmd] Skipping: the build result is FAILURE (set canRunOnFailed: true to read the reports of a failed build)\n",
            "[Analyse] [findbugs] `isRankActivated` is not used by kiln",
            "[Analyse] [FindBugs] Total issues: 1 (error: 0, high: 1, normal: 0, low: 0)\n",
            "[Analyse] [warnings] Scanning the console log (parser `Maven`) is not supported by kiln",
            "[Analyse] [warnings] Parser `Doxygen` is not known to kiln; skipped",
            "[Analyse] [Java Compiler] Total issues: 2 (error: 1, high: 0, normal: 1, low: 0)\n",
            "[Analyse] [warnings] No threshold exceeded\n",
        ],
    );
    assert!(!stdout.contains("[PMD]"), "{stdout}");
    assert!(stdout.ends_with("Finished: FAILURE\n"), "{stdout}");

    let out = run(
        ws.path(),
        "node { stage('Analyse') { pmd pattern: 'target/pmd.xml', unstableTotalNormal: 1, failedTotalLow: 0 } }\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_lines(
        &stdout,
        &[
            "[Analyse] [PMD] Total issues: 2 (error: 0, high: 1, normal: 1, low: 0)\n",
            "[Analyse] [pmd] No threshold exceeded\n",
        ],
    );
    // One normal warning does not exceed 1, and no low warning exceeds 0.
    assert!(stdout.ends_with("Finished: SUCCESS\n"), "{stdout}");
}

/// Lint accepts the legacy steps with every analysis-core parameter, and still refuses a
/// parameter the plugins never had.
#[test]
fn lint_accepts_the_legacy_parameters_and_refuses_unknown_ones() {
    let ws = tempfile::tempdir().unwrap();
    let file = ws.path().join("Jenkinsfile");
    std::fs::write(
        &file,
        "pipeline { agent any; stages { stage('a') { steps {
  checkstyle canComputeNew: false, canRunOnFailed: true, defaultEncoding: '', healthy: '', pattern: '**/cs.xml', unHealthy: '', thresholdLimit: 'low', useStableBuildAsReference: true, failedTotalAll: '10'
  pmd pattern: 'x', shouldDetectModules: true
} } } }\n",
    )
    .unwrap();
    let out = Command::new(KILN)
        .arg("lint")
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        &file,
        "pipeline { agent any; stages { stage('a') { steps { checkstyle pattern: 'x', colour: 'red' } } } }\n",
    )
    .unwrap();
    let out = Command::new(KILN)
        .arg("lint")
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("has no argument `colour`"), "{all}");
}
