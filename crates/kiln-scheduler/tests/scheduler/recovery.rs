//! A scheduler that dies (its runtime dropped mid-build, as after `kill -9`) and a new one
//! started over the same store.

use crate::support::*;
use kiln_store::BuildStatus;
use kiln_types::BuildResult;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_restart_aborts_running_builds_and_runs_queued_ones() {
    let env = Env::new();
    let gate = Gate::new(&env, "restart");
    let dir = env.dir(
        "job",
        &pipeline(&format!("echo 'started'\n        {}", gate.step())),
    );
    let config = env.config(&dir_job("job", &dir, ""));
    let first_run = runtime();
    let (running, queued, seen) = first_run.block_on(async {
        let h = env.start(config.clone());
        let running = h.trigger(user("job")).await.unwrap();
        let queued = h.trigger(user("job")).await.unwrap();
        env.until(|| {
            env.log(&running)
                .contains("[Build] started\n")
                .then_some(())
        })
        .await;
        let seen = env.log(&running);
        (running, queued, seen)
    });
    // The scheduler dies with its runtime: no shutdown, nothing recorded at the end. Store
    // writes already handed to blocking threads finish first (a killed process could not
    // write after its restart; a runtime shut down in the background could).
    first_run.shutdown_timeout(std::time::Duration::from_secs(10));
    assert_eq!(env.build(&running).status, BuildStatus::Running);
    assert_eq!(env.build(&queued).status, BuildStatus::Queued);

    gate.open();
    let second_run = runtime();
    second_run.block_on(async {
        let h = env.start(config.clone());
        let b = env.build(&running);
        assert_eq!(b.status, BuildStatus::Finished);
        assert_eq!(b.result, Some(BuildResult::Aborted));
        assert_eq!(b.reason.as_deref(), Some("controller restarted"));
        let log = env.log(&running);
        assert!(
            log.starts_with(&seen),
            "every line seen before the restart is kept"
        );
        assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
        let q = env.finished(&queued).await;
        assert_eq!(q.result, Some(BuildResult::Success), "{}", env.log(&queued));
        assert!(env.log(&queued).ends_with("Finished: SUCCESS\n"));
        h.shutdown().await;
    });
}
