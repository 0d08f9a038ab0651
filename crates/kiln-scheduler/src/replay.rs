//! The log of a resumed build. After a controller restart a build whose pod still runs is
//! resumed by running its steps again against that pod (the agent answers processes that
//! already ran with their recorded output, see `ProcessSpec::key`), so the engine writes the
//! build's log again from its first line. The stored log is the truth: new lines that equal
//! the stored ones are dropped; the first line that differs, or comes past the stored end, is
//! appended after a marker line, and so is everything after it.
//!
//! Lines are compared per stage (by their `[Stage] ` prefix; lines without one form one more
//! group): within a stage lines come in a fixed order, but parallel stages interleave them as
//! their timing goes, and a replay's timing is not the original's. A stage whose lines
//! differed once has everything after appended; the other stages keep being compared.
//!
//! Lines are compared without their `timestamps` prefix (`[2024-05-01T10:20:30.123Z] `, after
//! the stage prefix): a replay writes each line again at another time. A stored line that
//! matches stays as stored, with its first time; a line appended after the marker keeps the
//! new time it was written with.
//!
//! Lines the scheduler itself wrote and a resumed build does not write again (the workspace
//! upload, the wait for a pod slot and the warm pool a pod came from, which are not
//! repeated, in the build's lines and in a stage's; "waiting for input" of an input
//! answered before the restart, whose answer is replayed; the marker and the "stopping"
//! line of an earlier restart) may be passed over in the stored log, and so may a
//! `kanikoBuild`'s "starting the Kaniko pod" lines: a platform whose image was pushed before
//! the restart answers from the build's record without a pod. A Kaniko pod's output
//! (`[kaniko PLATFORM] ` after the stage prefix) is compared as a group of its own, since
//! the platforms' pods run side by side.
//!
//! A stage whose pod is taken over says `Running in pod NAME` again without what made the
//! pod (a dockerfile agent's image build): the stored copy of that line is looked for past
//! the lines before it. A stage that had finished before the restart in a pod of its own is
//! not run again (its pod is gone): its `Stage finished` line comes right after its start. The recorder
//! announces that line ([`Replay::expect_stage_end`]), and the stage's stored lines before
//! its stored copy are passed over.

use std::collections::HashMap;

/// The start of the marker line of a resumed build.
pub(crate) const MARKER_START: &str = "kiln: controller restarted; build resumed in ";

/// Compares a resumed build's new log lines with its stored log.
pub(crate) struct Replay {
    stored: Vec<u8>,
    /// Per stage prefix: the stored lines (start, end) not matched yet, and whether the
    /// stage's new lines differed (everything after is appended).
    groups: HashMap<Vec<u8>, Group>,
    marker: String,
    /// The marker was written (some new line was appended).
    marked: bool,
    /// `Stage finished` lines of stages that had finished before the restart: their stored
    /// copy may be reached past the stage's other stored lines.
    stage_ends: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Group {
    lines: std::collections::VecDeque<(usize, usize)>,
    diverged: bool,
}

impl Replay {
    /// A replay of `stored`; `marker` (one line, no newline) goes where new output starts.
    pub(crate) fn new(stored: Vec<u8>, marker: String) -> Self {
        let mut groups: HashMap<Vec<u8>, Group> = HashMap::new();
        let mut pos = 0;
        while pos < stored.len() {
            let end = pos + line_end(&stored[pos..]);
            let key = group(&stored[pos..end]);
            groups.entry(key).or_default().lines.push_back((pos, end));
            pos = end;
        }
        Replay {
            stored,
            groups,
            marker,
            marked: false,
            stage_ends: Vec::new(),
        }
    }

    /// Announces the `Stage finished` line (no newline) of a stage that had finished before
    /// the restart: when it comes, the stage's stored lines up to its stored copy are passed
    /// over (the stage was not run again).
    pub(crate) fn expect_stage_end(&mut self, line: &str) {
        let mut line = line.as_bytes().to_vec();
        line.push(b'\n');
        self.stage_ends.push(line);
    }

    /// Whether every new line so far repeated the stored log (nothing was appended).
    pub(crate) fn is_matching(&self) -> bool {
        !self.marked
    }

    /// Takes the next new lines (whole lines, each ending with `\n`) and returns the bytes
    /// to append to the stored log: the lines that do not repeat it, after the marker.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = line_end(rest);
            let line = &rest[..end];
            rest = &rest[end..];
            if self.take(line) {
                continue;
            }
            if !self.marked {
                self.marked = true;
                out.extend_from_slice(self.marker.as_bytes());
                out.push(b'\n');
            }
            out.extend_from_slice(line);
        }
        out
    }

    /// Moves past `line` if it is its stage's next stored line (after lines that may be
    /// passed over); says whether it was. A stage's first line that was not ends its
    /// comparison.
    fn take(&mut self, line: &[u8]) -> bool {
        let stored = &self.stored;
        let group = self.groups.entry(group(line)).or_default();
        if group.diverged {
            return false;
        }
        let stage_end = self.stage_ends.iter().position(|l| same_line(l, line));
        let sync = stage_end.is_some() || takes_over_pod(line);
        for (skipped, &(start, end)) in group.lines.iter().enumerate() {
            let candidate = &stored[start..end];
            if same_line(candidate, line) {
                group.lines.drain(..=skipped);
                if let Some(i) = stage_end {
                    self.stage_ends.swap_remove(i);
                }
                return true;
            }
            if !sync && !may_pass_over(candidate) {
                break;
            }
        }
        group.diverged = true;
        false
    }
}

/// The stage prefix of a log line (`[Build / Unit] `), empty for a line without one (a
/// `timestamps` prefix is no stage prefix).
fn prefix(line: &[u8]) -> &[u8] {
    if line.first() != Some(&b'[') || kiln_engine::timestamp_prefix_len(line) > 0 {
        return &[];
    }
    match line.windows(2).position(|w| w == b"] ") {
        Some(i) => &line[..i + 2],
        None => &[],
    }
}

/// The group a line is compared in: its stage prefix, and for a Kaniko pod's output the
/// `[kaniko PLATFORM] ` that follows it.
fn group(line: &[u8]) -> Vec<u8> {
    let (stage, rest) = untimed(line);
    let mut key = stage.to_vec();
    if rest.starts_with(b"[kaniko ")
        && let Some(i) = rest.windows(2).position(|w| w == b"] ")
    {
        key.extend_from_slice(&rest[..i + 2]);
    }
    key
}

/// Whether two log lines say the same, whatever their `timestamps` prefixes.
fn same_line(a: &[u8], b: &[u8]) -> bool {
    untimed(a) == untimed(b)
}

/// A log line's stage prefix and the rest of it, without the `timestamps` prefix that may
/// follow the stage prefix.
fn untimed(line: &[u8]) -> (&[u8], &[u8]) {
    let stage = prefix(line);
    let rest = &line[stage.len()..];
    (stage, &rest[kiln_engine::timestamp_prefix_len(rest)..])
}

/// A stage's `Running in pod NAME` line: pod names are unique, so when the stored log has it
/// the stage's pod was taken over, and the lines before it that made the pod (a dockerfile
/// agent's image build, which is not looked at again) are passed over.
fn takes_over_pod(line: &[u8]) -> bool {
    let (stage, rest) = untimed(line);
    !stage.is_empty() && rest.starts_with(b"Running in pod ")
}

/// The length of the first line of `bytes`, its newline included.
fn line_end(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| i + 1)
}

/// Stored lines a resumed build may not write again: the scheduler's (see [`scheduler_only`])
/// and a `kanikoBuild`'s Kaniko pod start (kiln-kube's image builder).
fn may_pass_over(line: &[u8]) -> bool {
    scheduler_only(line) || untimed(line).1.starts_with(b"starting the Kaniko pod ")
}

/// Lines the scheduler writes that a resumed build does not write again (see the runner's
/// workspace upload and the recorder's pending input).
fn scheduler_only(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(untimed(line).1);
    let line = line.trim_end_matches('\n');
    (line.starts_with("Uploaded ") && line.ends_with(" workspace files into the pod"))
        || line.starts_with("The pod came from the warm pool of template ")
        || line.starts_with("Waiting for input `")
        || line.starts_with("Waiting for a pod: ")
        || line.starts_with(MARKER_START)
        || line.starts_with(crate::resume::STOPPING)
}

#[cfg(test)]
mod tests {
    use super::Replay;

    const MARKER: &str = "kiln: resumed";

    /// Feeds `chunks` (each whole lines) to a replay of `stored`; returns what is appended.
    fn check(stored: &str, chunks: &[&str], appended: &str) {
        let mut replay = Replay::new(stored.as_bytes().to_vec(), MARKER.to_owned());
        let mut out = Vec::new();
        for c in chunks {
            out.extend(replay.feed(c.as_bytes()));
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            appended,
            "stored {stored:?}"
        );
    }

    #[test]
    fn repeated_lines_are_dropped_and_new_ones_follow_the_marker() {
        check("a\nb\n", &["a\n", "b\nc\n"], "kiln: resumed\nc\n");
        check("a\nb\n", &["a\nb\n", "c\n", "d\n"], "kiln: resumed\nc\nd\n");
        check("a\nb\n", &["a\n", "b\n"], "");
    }

    #[test]
    fn everything_from_the_first_difference_is_kept() {
        check(
            "a\nb\nc\n",
            &["a\nx\nc\n", "d\n"],
            "kiln: resumed\nx\nc\nd\n",
        );
        check("a\nb\n", &["x\n"], "kiln: resumed\nx\n");
        // A line that only starts like the stored one differs.
        check("abc\n", &["ab\n"], "kiln: resumed\nab\n");
        check("ab\n", &["abc\n"], "kiln: resumed\nabc\n");
    }

    #[test]
    fn an_empty_stored_log_keeps_everything() {
        check("", &["a\n", "b\n"], "kiln: resumed\na\nb\n");
    }

    #[test]
    fn scheduler_lines_a_resumed_build_does_not_repeat_are_passed_over() {
        let stored = "Started by user alice\nRunning in pod p\nUploaded 3 workspace files into the pod\n[Build] one\n";
        check(
            stored,
            &[
                "Started by user alice\nRunning in pod p\n",
                "[Build] one\n[Build] two\n",
            ],
            "kiln: resumed\n[Build] two\n",
        );
        let stored = "[Gate] Deploy? (Proceed or Abort)\nWaiting for input `Deploy`: Deploy? (approve with `kiln approve j#1`, or abort)\n[Gate] Approved by bob\n";
        check(
            stored,
            &["[Gate] Deploy? (Proceed or Abort)\n[Gate] Approved by bob\n[Gate] done\n"],
            "kiln: resumed\n[Gate] done\n",
        );
        let stored =
            "Started by user alice\nWaiting for a pod: 2 of 2 pods in use\nRunning in pod p\n";
        check(
            stored,
            &["Started by user alice\nRunning in pod p\n[Build] one\n"],
            "kiln: resumed\n[Build] one\n",
        );
        // Other lines are never passed over.
        check("a\nb\nc\n", &["a\nc\n"], "kiln: resumed\nc\n");
    }

    #[test]
    fn a_stage_pods_scheduler_lines_are_passed_over_too() {
        let stored = "[Test] Running in pod p\n[Test] Uploaded 3 workspace files into the pod\n[Test] The pod came from the warm pool of template 'go'\n[Test] one\n";
        check(
            stored,
            &["[Test] Running in pod p\n[Test] one\n[Test] two\n"],
            "kiln: resumed\n[Test] two\n",
        );
    }

    #[test]
    fn a_stage_not_run_again_passes_over_its_stored_lines_to_its_end() {
        let stored = "[A] Stage started\n[A] Running in pod p\n[A] + make\n[A] Stage finished (3s)\n[B] Stage started\n";
        let mut replay = Replay::new(stored.as_bytes().to_vec(), MARKER.to_owned());
        replay.expect_stage_end("[A] Stage finished (3s)");
        let out = replay
            .feed(b"[A] Stage started\n[A] Stage finished (3s)\n[B] Stage started\n[B] new\n");
        assert_eq!(String::from_utf8(out).unwrap(), "kiln: resumed\n[B] new\n");
        // Without the announcement the end line differs from the next stored line.
        check(
            stored,
            &["[A] Stage started\n[A] Stage finished (3s)\n"],
            "kiln: resumed\n[A] Stage finished (3s)\n",
        );
    }

    #[test]
    fn a_taken_over_stage_pod_skips_the_lines_that_made_it() {
        let stored = "[D] Building image r/app:1\n[D] Running in pod p\n[D] one\n";
        check(
            stored,
            &["[D] Running in pod p\n[D] one\n[D] two\n"],
            "kiln: resumed\n[D] two\n",
        );
        // Another pod's line is new.
        check(
            stored,
            &["[D] Running in pod q\n"],
            "kiln: resumed\n[D] Running in pod q\n",
        );
    }

    #[test]
    fn parallel_stages_may_interleave_differently() {
        let stored = "[A] 1\n[B] 1\n[A] 2\n[B] 2\n";
        check(
            stored,
            &["[B] 1\n[B] 2\n[A] 1\n", "[A] 2\n[A] 3\n"],
            "kiln: resumed\n[A] 3\n",
        );
        // A stage that differed is appended from there on; the others keep being compared.
        check(
            "[A] 1\n[B] 1\n[A] 2\n[B] 2\n",
            &["[A] 1\n[B] x\n[A] 2\n[B] 2\n[A] 3\n"],
            "kiln: resumed\n[B] x\n[B] 2\n[A] 3\n",
        );
        // Nested stage prefixes are stages of their own; `[x]` inside a line is no prefix.
        check(
            "[A / B] 1\n[A] 1\n[INFO]x\n",
            &["[A] 1\n[A / B] 1\n[INFO]x\n"],
            "",
        );
    }

    #[test]
    fn lines_repeat_the_stored_ones_whatever_their_timestamps() {
        let stored = "[2026-01-02T03:04:05.678Z] Started\n[Build] Stage started\n[Build] [2026-01-02T03:04:06.000Z] one\n[Build] [2026-01-02T03:04:07.000Z] two\n";
        // The stored lines stay as stored; new ones follow the marker with their new times.
        check(
            stored,
            &[
                "[2026-01-02T09:00:00.000Z] Started\n[Build] Stage started\n",
                "[Build] [2026-01-02T09:00:01.000Z] one\n[Build] [2026-01-02T09:00:02.000Z] two\n",
                "[Build] [2026-01-02T09:00:03.000Z] three\n",
            ],
            "kiln: resumed\n[Build] [2026-01-02T09:00:03.000Z] three\n",
        );
        // Only the time may differ: another text, or a line that was not timed, differs.
        check(
            "[Build] [2026-01-02T03:04:06.000Z] one\n",
            &["[Build] [2026-01-02T09:00:01.000Z] two\n"],
            "kiln: resumed\n[Build] [2026-01-02T09:00:01.000Z] two\n",
        );
        check(
            "[Build] one\n",
            &["[Build] [2026-01-02T09:00:01.000Z] two\n"],
            "kiln: resumed\n[Build] [2026-01-02T09:00:01.000Z] two\n",
        );
        // A timed line without a stage belongs with the other lines without one.
        check(
            "[2026-01-02T03:04:05.678Z] a\n[A] 1\nb\n",
            &["[A] 1\n[2026-01-02T09:00:00.000Z] a\nb\nc\n"],
            "kiln: resumed\nc\n",
        );
        // Something that only looks like a time is compared as text.
        check(
            "[Build] [2026-01-02T03:04:0x.000Z] one\n",
            &["[Build] [2026-01-02T03:04:01.000Z] one\n"],
            "kiln: resumed\n[Build] [2026-01-02T03:04:01.000Z] one\n",
        );
    }

    #[test]
    fn a_kaniko_build_answered_from_its_record_passes_over_its_pods_lines() {
        let stored = "[Img] starting the Kaniko pod p-a for linux/amd64\n[Img] starting the Kaniko pod p-b for linux/arm64\n[Img] [kaniko linux/arm64] b1\n[Img] [kaniko linux/amd64] a1\n[Img] [kaniko linux/amd64] a2\n[Img] pushed the image index r/app (sha256:i)\n[Img] kanikoBuild: pushed sha256:a for linux/amd64\n";
        // Every platform recorded: only the step's own lines come again.
        check(
            stored,
            &[
                "[Img] pushed the image index r/app (sha256:i)\n[Img] kanikoBuild: pushed sha256:a for linux/amd64\n[Img] next\n",
            ],
            "kiln: resumed\n[Img] next\n",
        );
        // One platform taken over: its pod's output, in its own order, repeats the stored
        // one and goes on after the marker.
        check(
            stored,
            &[
                "[Img] starting the Kaniko pod p-a for linux/amd64\n[Img] [kaniko linux/amd64] a1\n",
                "[Img] [kaniko linux/amd64] a2\n[Img] [kaniko linux/amd64] a3\n",
            ],
            "kiln: resumed\n[Img] [kaniko linux/amd64] a3\n",
        );
        // Other lines are not passed over.
        check(
            "[Img] starting the build\n[Img] done\n",
            &["[Img] done\n"],
            "kiln: resumed\n[Img] done\n",
        );
    }

    #[test]
    fn after_the_marker_nothing_is_compared_any_more() {
        let mut replay = Replay::new(b"a\nb\n".to_vec(), MARKER.to_owned());
        assert!(replay.is_matching());
        assert_eq!(replay.feed(b"x\n"), b"kiln: resumed\nx\n");
        assert!(!replay.is_matching());
        assert_eq!(replay.feed(b"a\nb\n"), b"a\nb\n");
    }
}
