//! A controller that stops but does not die: kiln servers (the real binary) on one
//! PostgreSQL database the test starts on 127.0.0.1, one of them paused (SIGSTOP) past its
//! lease while it runs a build. Another takes the build over; when the paused one goes on
//! (SIGCONT), its writes to the build are refused (the build's epoch moved on), so the
//! build's record and log hold only the new owner's work, and it stops driving the build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/controllers_env.rs"]
mod controllers_env;
mod support;

use controllers_env::{Env, log};
use std::time::{Duration, Instant};
use support::*;

/// Writes a line to its log and to a file of the test's every 0.1 s, until the test's
/// directory (`MARKS`) is gone.
const TICKS: &str = r#"pipeline {
  agent any
  stages { stage('Ticks') { steps { sh '''
i=0
while [ -d "MARKS" ]; do
  i=$((i+1)); echo "tick $i on $CTRL"; echo "$i" >> "MARKS/ticks"; sleep 0.1
done
''' } } }
}
"#;

/// A build pod (port-forwarded, as with several controllers) that counts its runs in the
/// test's directory, mounted at /marks, and waits there for `go`.
const POD: &str = r#"pipeline {
  agent { kubernetes { yaml '''MARKS_POD''' } }
  stages { stage('Work') { steps {
    sh 'echo run >> /marks/runs; echo first-half; while [ ! -e /marks/go ]; do sleep 0.1; done; echo second-half'
  } } }
}
"#;

/// [`POD`]'s step in a pod of its stage, the build having none of its own.
const STAGE_POD: &str = r#"pipeline {
  agent none
  stages { stage('Work') {
    agent { kubernetes { yaml '''MARKS_POD''' } }
    steps {
      sh 'echo run >> /marks/runs; echo first-half; while [ ! -e /marks/go ]; do sleep 0.1; done; echo second-half'
    }
  } }
}
"#;

/// Three controllers' worth of setup (kiln-cli's `controllers_env`) with jobs `ticks`
/// ([`TICKS`]), `pod` ([`POD`]) and `stage` ([`STAGE_POD`]).
fn env() -> Env {
    Env::new(&[("ticks", TICKS), ("pod", POD), ("stage", STAGE_POD)])
}

/// What these tests read of the test's directory and do with the `pod` job.
trait Fencing {
    fn lines(&self, file: &str) -> usize;
    fn ticks(&self) -> usize;
    fn pod_build_running(&self, first: &Server) -> Server;
    fn pod_build_finishes_once(&self, server: &Server);
    fn finishes_once(&self, server: &Server, job: &str);
}

impl Fencing for Env {
    /// How many lines the build's processes wrote to `file` of the test's directory.
    fn lines(&self, file: &str) -> usize {
        let text = std::fs::read_to_string(self.marks.join(file)).unwrap_or_default();
        text.lines().count()
    }

    /// How many ticks the build's process wrote so far.
    fn ticks(&self) -> usize {
        self.lines("ticks")
    }

    /// `pod#1` triggered on `first`, its step running in its pod; then a second controller
    /// holding its lease.
    fn pod_build_running(&self, first: &Server) -> Server {
        kiln_ok(first, &["trigger", "pod"]);
        wait_or_show(
            "pod#1 to run in its pod on the first controller",
            || log(first, "pod#1").contains("first-half"),
            || format!("{}\n{}", log(first, "pod#1"), self.server_logs()),
        );
        self.start(2)
    }

    /// Lets `pod#1` finish (on `server`), then checks that its step ran once, its log has
    /// each line once, it succeeded and no pod is left.
    fn pod_build_finishes_once(&self, server: &Server) {
        self.finishes_once(server, "pod");
    }

    /// [`Fencing::pod_build_finishes_once`] for build 1 of `job`.
    fn finishes_once(&self, server: &Server, job: &str) {
        let id = format!("{job}#1");
        std::fs::write(self.marks.join("go"), "").unwrap();
        wait_or_show(
            &format!("{id} to finish"),
            || build(server, job, 1)["status"] == "finished",
            || format!("{}\n{}", log(server, &id), self.server_logs()),
        );
        let text = log(server, &id);
        assert_eq!(build(server, job, 1)["result"], "SUCCESS", "{text}");
        assert_eq!(self.lines("runs"), 1, "the step ran once\n{text}");
        for line in [
            "[Work] first-half",
            "[Work] second-half",
            "Finished: SUCCESS",
        ] {
            let n = text.lines().filter(|l| *l == line).count();
            assert_eq!(n, 1, "{line} once:\n{text}");
        }
        wait_or_show(
            "no pod to be left",
            || self.pods() == 0,
            || self.server_logs(),
        );
    }
}

/// Sends `signal` (`STOP`, `CONT`) to the server's process.
fn signal(server: &Server, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

#[test]
fn an_owner_paused_past_its_lease_has_its_writes_refused_after_a_takeover() {
    let env = env();
    let first = env.start(1);
    kiln_ok(&first, &["trigger", "ticks"]);
    wait_or_show(
        "ticks#1 to run on the first controller",
        || log(&first, "ticks#1").contains("tick 3 on c1"),
        || env.server_logs(),
    );
    let second = env.start(2);
    wait_or_show(
        "the second controller to hold its lease",
        || env.server_log(2).contains("lease held"),
        || env.server_logs(),
    );
    // Paused, the first neither renews its lease nor writes; its build's process goes on.
    signal(&first, "STOP");
    let paused = Instant::now();
    wait_or_show(
        "ticks#1 to be taken over and ended by the second controller",
        || build(&second, "ticks", 1)["status"] == "finished",
        || format!("{}\n{}", build(&second, "ticks", 1), env.server_logs()),
    );
    let took = paused.elapsed();
    let taken = log(&second, "ticks#1");
    assert!(
        taken.contains("stopped renewing its lease") && taken.ends_with("Finished: ABORTED\n"),
        "{taken}"
    );
    assert!(
        took >= Duration::from_secs(8),
        "not taken over before the lease ran out ({took:?})"
    );
    signal(&first, "CONT");
    // The first has its lines of the paused time to append (and its lease to find gone):
    // the store refuses them, and it lets the build go.
    wait_or_show(
        "the first controller to have a write refused and let the build go",
        || {
            let text = env.server_log(1);
            text.contains("a write to this build was refused")
                && text.contains("stopped driving the build")
        },
        || env.server_logs(),
    );
    // Its local process is stopped: the ticks stop.
    wait_or_show(
        "the build's process on the first controller to stop",
        || {
            let before = env.ticks();
            std::thread::sleep(Duration::from_millis(500));
            env.ticks() == before
        },
        || env.server_logs(),
    );
    // Read from either controller, the build is what the second made of it.
    for server in [&first, &second] {
        assert_eq!(log(server, "ticks#1"), taken, "{}", env.server_logs());
        let b = build(server, "ticks", 1);
        assert_eq!(b["result"], "ABORTED", "{b}");
        assert_eq!(b["status"], "finished", "{b}");
        assert_eq!(b["reason"], "controller lost", "{b}");
    }
    let logs = env.server_log(1);
    assert_eq!(
        logs.matches("a write to this build was refused").count(),
        1,
        "refused once, then no retry loop:\n{logs}"
    );
}

#[test]
fn a_killed_owners_pod_build_resumes_on_another_controller_within_15_s() {
    let env = env();
    let mut first = env.start(1);
    let second = env.pod_build_running(&first);
    first.kill_9();
    let killed = Instant::now();
    wait_or_show(
        "pod#1 to be resumed in its pod by the second controller",
        || env.server_log(2).contains("build resumed in its pod"),
        || env.server_logs(),
    );
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(15),
        "resumed in {took:?}\n{}",
        env.server_logs()
    );
    env.pod_build_finishes_once(&second);
}

#[test]
fn a_pod_build_whose_owner_died_before_recording_its_pod_runs_once_in_a_new_pod() {
    died_before_recording_its_pod("pod");
}

#[test]
fn a_stage_pod_whose_owner_died_before_recording_it_runs_its_stage_once_in_a_new_pod() {
    died_before_recording_its_pod("stage");
}

/// Build 1 of `job` (one step, in its own pod or its stage's), its owner killed after it
/// made the pod and before it recorded it: another runs it once, in a new pod.
fn died_before_recording_its_pod(job: &str) {
    let env = env();
    let id = format!("{job}#1");
    // The owner reaches its pod's agent through port-forward: held back, it cannot upload
    // the workspace, so it dies after creating the pod and before recording it.
    env.cluster
        .fake()
        .delay_requests("/portforward", Duration::from_secs(300));
    let mut first = env.start(1);
    kiln_ok(&first, &["trigger", job]);
    wait_or_show(
        &format!("{id}'s pod to be created by the first controller"),
        || env.pods() == 1,
        || env.server_logs(),
    );
    let made = env.cluster.fake().objects("pods", "default");
    let old = made[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let secret = format!("{old}-agent");
    assert!(
        env.cluster
            .fake()
            .object("secrets", "default", &secret)
            .is_some(),
        "the pod's agent secret was made"
    );
    first.kill_9();
    env.cluster.fake().clear_delays();
    let second = env.start(2);
    wait_or_show(
        &format!("{id} to run again in a new pod on the second controller"),
        || log(&second, &id).contains("first-half"),
        || format!("{}\n{}", log(&second, &id), env.server_logs()),
    );
    assert!(
        env.server_log(2).contains("build resumed from its start"),
        "{}",
        env.server_logs()
    );
    // The pod and secret made before the owner died were deleted, by the build's labels.
    assert!(!env.cluster.pod_exists(&old), "{old} was deleted");
    let fake = env.cluster.fake();
    assert!(fake.object("secrets", "default", &secret).is_none());
    let text = log(&second, &id);
    let marker = "kiln: controller restarted; build resumed in new pods: ";
    let n = text.lines().filter(|l| l.starts_with(marker)).count();
    assert_eq!(n, 1, "{text}");
    env.finishes_once(&second, job);
}

#[test]
fn a_build_whose_owner_died_as_it_deleted_its_ended_pod_finishes_with_its_result() {
    let env = env();
    let mut first = env.start(1);
    let second = env.pod_build_running(&first);
    let made = env.cluster.fake().objects("pods", "default");
    let name = made[0]["metadata"]["name"].as_str().unwrap().to_owned();
    // The owner's delete of the ended build's pod is done, and its answer held back: the
    // owner is killed after the pod is gone and before the build's end is stored.
    let wait = Duration::from_secs(300);
    let pod_path = format!("/pods/{name}");
    env.cluster
        .fake()
        .lose_answers("DELETE", &pod_path, 1, 504, wait);
    std::fs::write(env.marks.join("go"), "").unwrap();
    wait_or_show(
        "the owner to delete the ended build's pod",
        || !env.cluster.pod_exists(&name),
        || format!("{}\n{}", log(&first, "pod#1"), env.server_logs()),
    );
    first.kill_9();
    env.pod_build_finishes_once(&second);
    assert!(
        env.server_log(2).contains("its steps had ended"),
        "{}",
        env.server_logs()
    );
}

#[test]
fn an_owner_of_a_pod_build_paused_past_its_lease_lets_the_new_owner_finish_it() {
    let env = env();
    let first = env.start(1);
    let second = env.pod_build_running(&first);
    signal(&first, "STOP");
    wait_or_show(
        "pod#1 to be resumed in its pod by the second controller",
        || env.server_log(2).contains("build resumed in its pod"),
        || env.server_logs(),
    );
    // The new owner told the pod's agent its epoch, which cut the paused owner's connection
    // off. Going on, the old owner has its writes refused and lets the build go (as refused,
    // or as a controller whose lease ran out, whichever it sees first). Whether it also reads
    // the agent's refusal depends on which of the two it notices first: when the store's
    // refusal comes first it drops the connection unread. The agent's refusal itself is
    // checked in kiln-agent's `a_connection_driving_a_build_at_a_lower_epoch_than_seen_is_refused`.
    signal(&first, "CONT");
    wait_or_show(
        "the first controller to be refused and let the build go",
        || {
            let text = env.server_log(1);
            let agent_refused = text.contains("the agent refuses this controller")
                && text.contains("driven by another controller now (epoch 2");
            let store_refused = text.contains("a write to this build was refused");
            (agent_refused || store_refused)
                && (text.contains("stopped driving the build")
                    || text.contains("build left running in its pod"))
        },
        || env.server_logs(),
    );
    env.pod_build_finishes_once(&second);
    assert_eq!(log(&first, "pod#1"), log(&second, "pod#1"));
}
