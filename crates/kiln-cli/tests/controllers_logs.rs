//! Live logs across controllers: kiln servers (the real binary) on one PostgreSQL database
//! the test starts, a pod build in the fake cluster, and the real `kiln logs -f` following
//! it on a controller that does not own it and through a stand-in for the Service while the
//! owner is killed (`kill -9`) and another takes the build over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/controllers_env.rs"]
mod controllers_env;
mod support;

use controllers_env::*;
use std::process::{Command, Stdio};
use support::*;

/// Numbered lines from a pod until the test says `go`, then `done`.
const COUNT: &str = r#"pipeline {
  agent { kubernetes { yaml '''MARKS_POD''' } }
  stages { stage('Count') { steps {
    sh 'i=0; while [ ! -e /marks/go ]; do i=$((i+1)); echo "line $i"; sleep 0.2; done; echo done'
  } } }
}
"#;

/// `kiln logs -f BUILD` against `url`, its output going to `root/NAME.out` and `.err`.
fn follow(env: &Env, url: &str, build: &str, name: &str) -> std::process::Child {
    let out = std::fs::File::create(env.root.join(format!("{name}.out"))).unwrap();
    let err = std::fs::File::create(env.root.join(format!("{name}.err"))).unwrap();
    Command::new(KILN)
        .args(["logs", "-f", build])
        .env("KILN_SERVER", url)
        .env("KILN_TOKEN", TOKEN)
        .env_remove("KILN_LOG")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap()
}

fn output(env: &Env, name: &str) -> String {
    std::fs::read_to_string(env.root.join(name)).unwrap_or_default()
}

/// The `line N` lines of a log are 1, 2, 3... with none missing or doubled; their count.
fn counted_once_each(text: &str) -> usize {
    let numbers: Vec<usize> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[Count] line "))
        .map(|n| n.parse().unwrap())
        .collect();
    let expected: Vec<usize> = (1..=numbers.len()).collect();
    assert_eq!(numbers, expected, "every line once, in order:\n{text}");
    numbers.len()
}

#[test]
fn kiln_logs_f_stays_attached_through_a_takeover() {
    let env = Env::new(&[("count", COUNT)]);
    let mut owner = env.start(1);
    kiln_ok(&owner, &["trigger", "count"]);
    wait_or_show(
        "count#1 to run in its pod on the first controller",
        || log(&owner, "count#1").contains("line 3"),
        || env.server_logs(),
    );
    let second = env.start(2);
    let third = env.start(3);
    // One follower through the Service (it reaches the owner first), one on a controller
    // that does not own the build.
    let service = relay(vec![
        owner.addr.clone(),
        second.addr.clone(),
        third.addr.clone(),
    ]);
    let mut through_service = follow(&env, &service, "count#1", "service");
    let mut on_other = follow(&env, &third.url, "count#1", "other");
    wait_or_show(
        "both followers to see the build's lines",
        || {
            output(&env, "service.out").contains("line 5")
                && output(&env, "other.out").contains("line 5")
        },
        || env.server_logs(),
    );
    owner.kill_9();
    wait_or_show(
        "count#1 to be resumed in its pod by another controller",
        || {
            env.server_log(2).contains("build resumed in its pod")
                || env.server_log(3).contains("build resumed in its pod")
        },
        || env.server_logs(),
    );
    // Lines made after the takeover reach both followers.
    let seen = counted_once_each(&log(&second, "count#1"));
    wait_or_show(
        "both followers to see lines written after the takeover",
        || {
            let later = format!("line {}", seen + 5);
            output(&env, "service.out").contains(&later)
                && output(&env, "other.out").contains(&later)
        },
        || format!("{}\n{}", output(&env, "service.err"), env.server_logs()),
    );
    env.touch("go");
    for (name, child) in [("service", &mut through_service), ("other", &mut on_other)] {
        let status = child.wait().unwrap();
        let text = output(&env, &format!("{name}.out"));
        assert!(
            status.success(),
            "{name}: {status}\n{text}\n{}",
            output(&env, &format!("{name}.err"))
        );
        let stored = log(&third, "count#1");
        assert!(stored.ends_with("Finished: SUCCESS\n"), "{stored}");
        assert_eq!(
            text, stored,
            "{name} followed the whole log, nothing doubled or missing"
        );
        assert!(counted_once_each(&text) > seen);
        assert_eq!(
            text.lines().filter(|l| *l == "[Count] done").count(),
            1,
            "{text}"
        );
    }
    // The Service's follower lost its connection with the owner and went on elsewhere.
    let err = output(&env, "service.err");
    assert!(err.contains("reconnecting"), "{err}");
    wait_or_show(
        "no pod to be left",
        || env.pods() == 0,
        || env.server_logs(),
    );
}
