//! Queue rules: per-job concurrency, global capacity, fair ordering across jobs.

use crate::support::*;
use kiln_store::BuildStatus;
use kiln_types::BuildResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_queues_the_second_build_until_the_first_ends() {
    let env = Env::new();
    let gate = Gate::new(&env, "one");
    let dir = env.dir("one", &pipeline(&gate.step()));
    let h = env.start(env.config(&dir_job("one", &dir, "")));
    let first = h.trigger(user("one")).await.unwrap();
    let second = h.trigger(user("one")).await.unwrap();
    env.until(|| (status(&env, &first) == BuildStatus::Running).then_some(()))
        .await;
    settle(&h).await;
    assert_eq!(status(&env, &second), BuildStatus::Queued);
    assert_eq!(h.stats().queued, 1);
    assert_eq!(h.stats().running, 1);
    gate.open();
    assert_eq!(
        env.finished(&first).await.result,
        Some(BuildResult::Success)
    );
    assert_eq!(
        env.finished(&second).await.result,
        Some(BuildResult::Success)
    );
    let (a, b) = (env.build(&first), env.build(&second));
    assert!(b.started_at_ms.unwrap() >= a.finished_at_ms.unwrap());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_builds_of_one_job_get_their_own_workspaces() {
    let env = Env::new();
    let gate = Gate::new(&env, "two");
    let dir = env.dir(
        "two",
        &pipeline(&format!("{}\n        sh 'pwd'", gate.step())),
    );
    let h = env.start(env.config(&dir_job("two", &dir, "    concurrency: 2\n")));
    let first = h.trigger(user("two")).await.unwrap();
    let second = h.trigger(user("two")).await.unwrap();
    env.until(|| {
        (status(&env, &first) == BuildStatus::Running
            && status(&env, &second) == BuildStatus::Running)
            .then_some(())
    })
    .await;
    gate.open();
    env.finished(&first).await;
    env.finished(&second).await;
    let ws = env.data.join("workspaces");
    let logs = [env.log(&first), env.log(&second)];
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("[Build] {}\n", ws.join("two").display()))),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("[Build] {}\n", ws.join("two@2").display()))),
        "{logs:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_capacity_bounds_running_builds_across_jobs() {
    let env = Env::new();
    let gate = Gate::new(&env, "cap");
    let mut yaml = String::from("queue:\n  capacity: 2\njobs:\n");
    for name in ["a", "b", "c"] {
        let dir = env.dir(name, &pipeline(&gate.step()));
        yaml.push_str(&format!("  - name: {name}\n    dir: {}\n", dir.display()));
    }
    let h = env.start(env.config(&yaml));
    let ids = [
        h.trigger(user("a")).await.unwrap(),
        h.trigger(user("b")).await.unwrap(),
        h.trigger(user("c")).await.unwrap(),
    ];
    // Each build's task stores Running itself, so the first two may get there in either order:
    // wait for both, then let the actor settle and check that the third still waits.
    env.until(|| {
        ids[..2]
            .iter()
            .all(|id| status(&env, id) == BuildStatus::Running)
            .then_some(())
    })
    .await;
    settle(&h).await;
    let states: Vec<BuildStatus> = ids.iter().map(|id| status(&env, id)).collect();
    assert_eq!(
        states,
        [
            BuildStatus::Running,
            BuildStatus::Running,
            BuildStatus::Queued
        ]
    );
    assert_eq!(h.stats().capacity, 2);
    gate.open();
    for id in &ids {
        assert_eq!(env.finished(id).await.result, Some(BuildResult::Success));
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_take_turns_in_the_queue() {
    let env = Env::new();
    let gate = Gate::new(&env, "fair");
    let order = env.tmp.path().join("order.txt");
    let steps = format!(
        "{}\n        sh 'echo $JOB_NAME#$BUILD_NUMBER >> {}'",
        gate.step(),
        order.display()
    );
    let mut yaml = String::from("queue:\n  capacity: 1\njobs:\n");
    for name in ["a", "b"] {
        let dir = env.dir(name, &pipeline(&steps));
        yaml.push_str(&format!(
            "  - name: {name}\n    dir: {}\n    concurrency: 5\n",
            dir.display()
        ));
    }
    let h = env.start(env.config(&yaml));
    let mut ids = Vec::new();
    for job in ["a", "a", "a", "b", "b"] {
        ids.push(h.trigger(user(job)).await.unwrap());
    }
    gate.open();
    for id in &ids {
        env.finished(id).await;
    }
    let text = std::fs::read_to_string(&order).unwrap();
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, ["a#1", "a#2", "b#1", "a#3", "b#2"]);
    h.shutdown().await;
}
