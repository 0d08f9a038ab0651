use super::{Replay, Taken};
use kiln_store::{LogEvent, LogEventKind as K};

/// A stored event (offsets and text play no part in the replay).
fn ev(stage: Option<u32>, kind: K) -> LogEvent {
    LogEvent {
        offset: 0,
        len: 0,
        at_ms: 0,
        stage,
        kind,
    }
}

fn out(process: &str, from: u64, to: u64, lines: u64) -> K {
    K::Output {
        process: process.to_owned(),
        from,
        to,
        lines,
    }
}

fn pod(name: &str) -> K {
    K::RunningInPod {
        pod: name.to_owned(),
    }
}

/// Feeds `new` pieces (stage, kind, lines) to a replay of `stored`; checks how many lines of
/// each repeat the stored log.
fn check(stored: Vec<LogEvent>, new: &[(Option<u32>, K, u64)], repeated: &[u64]) {
    let mut replay = Replay::new(stored, "kiln: resumed".to_owned());
    let got: Vec<u64> = new
        .iter()
        .map(|(stage, kind, lines)| replay.take(*stage, kind, *lines).repeated)
        .collect();
    assert_eq!(got, repeated, "{new:?}");
}

const B: Option<u32> = None;
const S1: Option<u32> = Some(1);
const S2: Option<u32> = Some(2);

#[test]
fn repeated_pieces_are_dropped_and_new_ones_kept() {
    let stored = vec![ev(B, K::Line), ev(S1, K::StageStarted), ev(S1, K::Line)];
    check(
        stored.clone(),
        &[
            (B, K::Line, 1),
            (S1, K::StageStarted, 1),
            (S1, K::Line, 1),
            (S1, K::Line, 1),
        ],
        &[1, 1, 1, 0],
    );
    // Another kind than the stored one ends the stage's comparison.
    check(
        stored,
        &[
            (B, K::Line, 1),
            (S1, K::StageStarted, 1),
            (S1, K::StageFinished, 1),
            (S1, K::Line, 1),
        ],
        &[1, 1, 0, 0],
    );
    check(vec![], &[(B, K::Line, 1)], &[0]);
}

#[test]
fn output_is_compared_by_process_key_and_offset() {
    let stored = vec![
        ev(S1, K::StageStarted),
        ev(S1, out("p", 0, 10, 2)),
        ev(S1, out("p", 10, 30, 3)),
    ];
    // Below the stored offset: dropped, however the new run's batches are cut.
    check(
        stored.clone(),
        &[
            (S1, K::StageStarted, 1),
            (S1, out("p", 0, 25, 4), 4),
            (S1, out("p", 25, 30, 1), 1),
            (S1, out("p", 30, 40, 2), 2),
            (S1, K::StageFinished, 1),
        ],
        &[1, 4, 1, 0, 0],
    );
    // A batch across the stored end: the stored lines go, the rest is new.
    let mut replay = Replay::new(stored.clone(), String::new());
    replay.take(S1, &K::StageStarted, 1);
    assert_eq!(
        replay.take(S1, &out("p", 0, 36, 6), 6),
        Taken {
            repeated: 5,
            new_from: Some(30)
        }
    );
    // Another process (another command, another place) is new.
    check(stored, &[(S1, out("q", 0, 10, 2), 2)], &[0]);
}

#[test]
fn kinds_a_resumed_build_does_not_repeat_are_passed_over() {
    let stored = vec![
        ev(B, K::Line),
        ev(B, K::WaitingForPod),
        ev(B, pod("p")),
        ev(B, K::WorkspaceUploaded),
        ev(S1, K::StageStarted),
        ev(S1, K::WaitingForInput),
        ev(S1, K::Line),
        ev(S2, pod("q")),
        ev(S2, K::PodFromWarmPool),
        ev(S2, K::WorkspaceUploaded),
        ev(S2, K::Line),
    ];
    check(
        stored.clone(),
        &[
            (B, K::Line, 1),
            (B, pod("p"), 1),
            (S1, K::StageStarted, 1),
            (S1, K::Line, 1),
            (S2, pod("q"), 1),
            (S2, K::Line, 1),
            (S2, K::Line, 1),
        ],
        &[1, 1, 1, 1, 1, 1, 0],
    );
    // Other kinds are never passed over.
    check(
        vec![ev(B, K::Line), ev(B, K::Notice), ev(B, K::Line)],
        &[(B, K::Line, 1), (B, K::Line, 1)],
        &[1, 0],
    );
}

#[test]
fn a_stage_not_run_again_passes_over_its_stored_pieces_to_its_end() {
    let stored = vec![
        ev(S1, K::StageStarted),
        ev(S1, pod("p")),
        ev(S1, out("k", 0, 10, 1)),
        ev(S1, K::Line),
        ev(S1, K::StageFinished),
        ev(S2, K::StageStarted),
    ];
    let mut replay = Replay::new(stored.clone(), String::new());
    replay.expect_stage_end(1);
    let repeated: Vec<u64> = [
        (S1, K::StageStarted),
        (S1, K::StageFinished),
        (S2, K::StageStarted),
        (S2, K::Line),
    ]
    .iter()
    .map(|(s, k)| replay.take(*s, k, 1).repeated)
    .collect();
    assert_eq!(repeated, [1, 1, 1, 0]);
    // Without the announcement the end differs from the next stored piece.
    check(
        stored,
        &[(S1, K::StageStarted, 1), (S1, K::StageFinished, 1)],
        &[1, 0],
    );
}

#[test]
fn a_taken_over_stage_pod_skips_what_made_it() {
    let stored = vec![ev(S1, K::Line), ev(S1, pod("p")), ev(S1, K::Line)];
    check(
        stored.clone(),
        &[(S1, pod("p"), 1), (S1, K::Line, 1), (S1, K::Line, 1)],
        &[1, 1, 0],
    );
    // Another pod is new.
    check(stored, &[(S1, pod("q"), 1)], &[0]);
}

#[test]
fn parallel_stages_may_interleave_differently() {
    let stored = vec![
        ev(S1, out("a", 0, 2, 1)),
        ev(S2, out("b", 0, 2, 1)),
        ev(S1, K::Line),
        ev(S2, K::Line),
    ];
    check(
        stored,
        &[
            (S2, out("b", 0, 2, 1), 1),
            (S2, K::Line, 1),
            (S1, out("a", 0, 2, 1), 1),
            (S1, K::Line, 1),
            (S1, K::Line, 1),
        ],
        &[1, 1, 1, 1, 0],
    );
}

#[test]
fn a_builder_answered_from_the_record_passes_over_its_pods() {
    let stored = vec![
        ev(S1, K::BuilderPodStarted { pod: "p-a".into() }),
        ev(S1, K::BuilderPodStarted { pod: "p-b".into() }),
        ev(S1, out("s/kaniko b", 0, 3, 1)),
        ev(S1, out("s/kaniko a", 0, 3, 1)),
        ev(S1, K::Line),
    ];
    // Every platform recorded: only the step's own lines come again.
    check(
        stored.clone(),
        &[(S1, K::Line, 1), (S1, K::Line, 1)],
        &[1, 0],
    );
    // One builder taken over: its output repeats the stored one, then goes on.
    check(
        stored,
        &[
            (S1, K::BuilderPodStarted { pod: "p-a".into() }, 1),
            (S1, out("s/kaniko a", 0, 3, 1), 1),
            (S1, out("s/kaniko a", 3, 6, 1), 1),
        ],
        &[1, 1, 0],
    );
}

/// Guards issue 12: resume matched English sentences, so rewording a message broke it. The
/// replay sees kinds, keys and offsets only (its API takes no text), so a stored log whose
/// every line is worded otherwise, or a migrated log, is compared the same way.
#[test]
fn a_log_written_before_records_were_structured_is_appended_after_the_marker() {
    let mut replay = Replay::new(vec![ev(B, K::Plain)], "kiln: resumed".to_owned());
    assert!(replay.is_matching());
    assert_eq!(replay.take(B, &K::Line, 1).repeated, 0);
    assert_eq!(replay.marker(), Some("kiln: resumed"));
    assert_eq!(replay.marker(), None, "written once");
    assert!(!replay.is_matching());
}
