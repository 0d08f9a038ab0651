//! Issue 11: a step printing one enormous line with no line break must not grow kiln's memory
//! without bound. Through the real `kiln run`, 96 MiB without a newline become lines of 1 MiB,
//! the log says the line was cut, and the run's peak memory stays far below the line's size.
//!
//! Alone in its test binary, so `getrusage(RUSAGE_CHILDREN)` gives the peak resident size of
//! kiln and what it started only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nix::sys::resource::{UsageWho, getrusage};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const MIB: usize = 1 << 20;
/// The line's length: 96 MiB of `x`, no newline.
const OUTPUT_MIB: usize = 96;
/// The bound on the run's peak resident size (kept whole, the line alone is 96 MiB, and it
/// was copied more than once on its way out).
const LIMIT_KB: i64 = 80 * 1024;

#[test]
fn one_enormous_line_is_cut_into_pieces_and_memory_stays_bounded() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("Jenkinsfile"),
        format!(
            "pipeline {{ agent any\n stages {{ stage('Long') {{ steps {{\n  \
             sh 'head -c {} /dev/zero | tr \"\\\\0\" x'\n }} }} }} }}\n",
            OUTPUT_MIB * MIB
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never", "Jenkinsfile"])
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::with_capacity(MIB, child.stdout.take().unwrap());
    let (mut pieces, mut xs, mut others) = (Vec::new(), 0, Vec::new());
    for line in stdout.split(b'\n') {
        let line = line.unwrap();
        match line.strip_prefix(b"[Long] ") {
            Some(rest) if rest.first() == Some(&b'x') => {
                assert!(
                    rest.iter().all(|b| *b == b'x'),
                    "a piece holds only the line's bytes"
                );
                pieces.push(rest.len());
                xs += rest.len();
            }
            _ => others.push(String::from_utf8_lossy(&line).into_owned()),
        }
    }
    let status = child.wait().unwrap();
    let context = others.join("\n");
    assert!(status.success(), "kiln run failed: {status}\n{context}");
    assert_eq!(
        xs,
        OUTPUT_MIB * MIB,
        "every byte is printed once\n{context}"
    );
    assert_eq!(pieces, vec![MIB; OUTPUT_MIB], "{context}");
    assert!(
        others
            .iter()
            .any(|l| l.contains("a line of output longer than 1 MiB was cut")),
        "the log says the line was cut:\n{context}"
    );
    assert_eq!(others.last().map(String::as_str), Some("Finished: SUCCESS"));
    let peak_kb = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss();
    assert!(
        peak_kb < LIMIT_KB,
        "kiln run peaked at {} MB for a line of {OUTPUT_MIB} MiB (limit {} MB)",
        peak_kb / 1024,
        LIMIT_KB / 1024
    );
}
