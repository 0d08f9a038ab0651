//! Multibranch jobs on a test clock (issue 16): an orphaned child is kept `days_to_keep`
//! days and then removed by the scheduler's own timer, with no scan or webhook to prompt it;
//! its builds go or stay per `orphaned_item_strategy.keep_builds`.

use crate::support::*;
use kiln_engine::BuildCause;
use kiln_scheduler::{ChangeTrigger, Gone, ManualClock, SchedulerHandle, TriggerRequest};
use kiln_types::{BuildRef, BuildResult, JobName};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// 2026-01-01 00:00:30 UTC.
const START_MS: u64 = 1_767_225_630_000;
const DAY: Duration = Duration::from_secs(86_400);

/// Pull request 7 of `feature` into `main`, as a webhook of multibranch job `job` gives it.
fn pull_request(job: &str, head: &str) -> TriggerRequest {
    let vars = BTreeMap::from([
        ("CHANGE_ID".to_owned(), "7".to_owned()),
        ("CHANGE_TARGET".to_owned(), "main".to_owned()),
        ("CHANGE_BRANCH".to_owned(), "feature".to_owned()),
    ]);
    let mut req = TriggerRequest::new(job, BuildCause::Webhook("github".into()))
        .branch("main")
        .commit(head);
    req.change = Some(ChangeTrigger {
        vars,
        branch_name: "PR-7".to_owned(),
        fork: false,
        author_key: None,
        judged: None,
    });
    req
}

fn has_job(h: &SchedulerHandle, name: &str) -> bool {
    h.jobs().iter().any(|j| j.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_requests_job_is_removed_days_to_keep_after_on_the_timer() {
    let env = Env::new();
    let jenkinsfile = pipeline("echo \"on ${env.BRANCH_NAME}\"");
    let repo = env.repo("app", &[("Jenkinsfile", &jenkinsfile)]);
    git(&repo, &["checkout", "--quiet", "-b", "feature"]);
    let head = commit(&repo, &[("feature.txt", "x")], "feature");
    git(&repo, &["checkout", "--quiet", "main"]);
    let job = |name: &str, strategy: &str| {
        format!(
            "  - name: {name}\n    repo: file://{}\n    multibranch:\n      scan: 'off'\n      orphaned_item_strategy: {strategy}\n",
            repo.display()
        )
    };
    let yaml = format!(
        "jobs:\n{}{}",
        job("app", "{days_to_keep: 3}"),
        job("lib", "{days_to_keep: 3, keep_builds: true}")
    );
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    // The scan at start builds both branches of both jobs; no scan runs after it (`scan:
    // off`), so only the timer can remove an orphan later.
    for child in ["app/main", "app/feature", "lib/main", "lib/feature"] {
        let id = BuildRef {
            job: JobName::new(child).unwrap(),
            number: 1,
        };
        env.until(|| env.store.get_build(&id).unwrap()).await;
        env.finished(&id).await;
    }

    let mut builds: Vec<BuildRef> = Vec::new();
    for parent in ["app", "lib"] {
        let id = h.trigger(pull_request(parent, &head)).await.unwrap();
        assert_eq!(id.job.as_str(), format!("{parent}/PR-7"));
        let b = env.finished(&id).await;
        assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(&id));
        assert!(env.log(&id).contains("on PR-7"), "{}", env.log(&id));
        builds.push(id);
    }
    // Were a scan to run after all, it would fail at the fetch and remove nothing.
    std::fs::rename(&repo, env.tmp.path().join("moved")).unwrap();

    // The request is closed: its jobs are orphaned, and kept (days_to_keep).
    for parent in ["app", "lib"] {
        let gone = h.forget(parent, &Gone::Change("PR-7".into())).await;
        assert_eq!(gone.as_deref(), Some(format!("{parent}/PR-7").as_str()));
    }
    assert!(has_job(&h, "app/PR-7") && has_job(&h, "lib/PR-7"));

    // A minute before the three days are over: still there.
    clock.advance(DAY * 3 - Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(has_job(&h, "app/PR-7"), "removed before its days to keep");
    assert!(has_job(&h, "lib/PR-7"), "removed before its days to keep");
    for id in &builds {
        let b = env.store.get_build(id).unwrap();
        assert!(b.is_some(), "{id} deleted early");
    }

    // Past them: both jobs go on the timer; app's build with it, lib's is kept.
    clock.advance(Duration::from_secs(120));
    env.until(|| (!has_job(&h, "app/PR-7") && !has_job(&h, "lib/PR-7")).then_some(()))
        .await;
    env.until(|| {
        env.store
            .get_build(&builds[0])
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let kept = env.store.get_build(&builds[1]).unwrap();
    assert_eq!(
        kept.map(|b| b.result),
        Some(Some(BuildResult::Success)),
        "keep_builds keeps the removed job's build"
    );
    h.shutdown().await;
}
