//! `multibranch:` and `branches:` of a job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{ChangeBuild, OrphanedItemStrategy, parse};
use kiln_diagnostics::RenderOptions;

#[test]
fn multibranch_settings_decode() {
    let cfg = parse(
        "kiln.yaml",
        "jobs:
  - {name: plain, repo: /srv/app}
  - {name: all, repo: /srv/app, multibranch: true}
  - {name: some, repo: /srv/app, branches: [main, 'feature/*']}
  - name: full
    repo: /srv/app
    multibranch:
      branches: main
      tags: ['v*']
      change_requests: false
      change_build: head
      scan: 'H/5 * * * *'
      orphaned_item_strategy: {days_to_keep: 3, num_to_keep: 10, keep_builds: true}
  - {name: quiet, repo: /srv/app, multibranch: {scan: 'off', tags: true}}
",
    )
    .unwrap();
    assert!(cfg.jobs[0].multibranch.is_none());
    let all = cfg.jobs[1].multibranch.clone().unwrap();
    assert_eq!(all.branches, ["**"]);
    assert!(all.tags.is_empty() && all.change_requests);
    assert_eq!(all.change_build, ChangeBuild::Merge);
    assert_eq!(all.scan.unwrap().spec(), "H * * * *");
    assert_eq!(all.orphaned, OrphanedItemStrategy::default());
    let some = cfg.jobs[2].multibranch.clone().unwrap();
    assert_eq!(some.branches, ["main", "feature/*"]);
    let full = cfg.jobs[3].multibranch.clone().unwrap();
    assert_eq!(full.branches, ["main"]);
    assert_eq!(full.tags, ["v*"]);
    assert!(!full.change_requests);
    assert_eq!(full.change_build, ChangeBuild::Head);
    assert_eq!(full.scan.unwrap().spec(), "H/5 * * * *");
    assert_eq!(
        full.orphaned,
        OrphanedItemStrategy {
            days_to_keep: Some(3),
            num_to_keep: Some(10),
            keep_builds: true
        }
    );
    let quiet = cfg.jobs[4].multibranch.clone().unwrap();
    assert!(quiet.scan.is_none());
    assert_eq!(quiet.tags, ["**"]);
}

#[test]
fn bad_multibranch_settings_are_reported_at_their_values() {
    let err = parse(
        "kiln.yaml",
        "jobs:
  - {name: a/b, repo: /srv/app}
  - {name: d, dir: /srv/app, multibranch: true}
  - {name: e, repo: /srv/app, multibranch: yes please}
  - name: f
    repo: /srv/app
    multibranch: {change_build: rebase, scan: 'every day', orphaned_item_strategy: {days: 3}}
",
    )
    .unwrap_err();
    insta::assert_snapshot!(err.render(RenderOptions::default()));
}
