//! Retention: old builds and their files are deleted.

use crate::support::*;
use kiln_store::Page;
use kiln_types::{BuildRef, JobName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_builds_are_kept() {
    let env = Env::new();
    let dir = env.dir(
        "kept",
        &pipeline("writeFile file: 'out.txt', text: 'x'\n        archiveArtifacts 'out.txt'"),
    );
    let h = env.start(env.config(&dir_job("kept", &dir, "    retention:\n      builds: 2\n")));
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = h.trigger(user("kept")).await.unwrap();
        env.finished(&id).await;
        ids.push(id);
    }
    let job = JobName::new("kept").unwrap();
    let page = Page {
        before: None,
        limit: 10,
    };
    let dir_of = |n: u64| env.data.join("builds/kept").join(n.to_string());
    // The store's record goes first, then the files: wait for both.
    let numbers = env
        .until(|| {
            let n: Vec<u64> = env
                .store
                .list_builds(&job, page)
                .unwrap()
                .iter()
                .map(|b| b.id.number)
                .collect();
            (n.len() == 2 && !dir_of(1).exists() && !dir_of(2).exists()).then_some(n)
        })
        .await;
    assert_eq!(numbers, [4, 3]);
    assert!(dir_of(4).join("artifacts/out.txt").is_file());
    assert_eq!(env.build(&ids[3]).artifacts.len(), 1);
    let gone = BuildRef { job, number: 1 };
    assert!(env.store.get_build(&gone).unwrap().is_none());
    h.shutdown().await;
}
