//! The job properties a build set from values its pipeline computes (schedules, retention
//! counts: see kiln-engine's `JobProperties`) or with a `properties([...])` step (those and
//! parameters, `disableConcurrentBuilds`), recorded for the job as Jenkins keeps the
//! properties the last build set. The build reports them as soon as it sets them (through
//! its coordinator), so a build that fails or is aborted afterwards still sets them, as in
//! Jenkins. The record lives in the job's stored `meta` under
//! [`META_KEY`] (JSON), so every store keeps it, exports and imports it without a table of
//! its own; the scheduler keeps a copy in memory (`Shared`), loaded when it starts.
//!
//! The record is used for jobs whose pipeline computes these values (or whose pipeline is
//! not read yet, as after a restart); literal values in the Jenkinsfile are read from it as
//! before, and a job's `kiln.yaml` settings keep their precedence (`retention:` over the
//! pipeline's discarder; `triggers:` schedules add to the pipeline's).

use crate::shared::Shared;
use kiln_engine::{JobParameter, JobProperties, Replaced};
use kiln_model::Pipeline;
use kiln_store::{JobRecord, Store};
use kiln_types::JobName;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The key of the record in the job's `meta`.
pub(crate) const META_KEY: &str = "job_properties";

/// What one build set for its job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobPropertiesRecord {
    /// The build that set them.
    pub build: u64,
    #[serde(default)]
    pub cron: Vec<String>,
    #[serde(default)]
    pub poll: Vec<String>,
    /// `parameterizedCron` texts (schedule lines with `%` parameters); left out when empty,
    /// so records without them read and write as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_cron: Vec<String>,
    #[serde(default)]
    pub builds_to_keep: Option<u32>,
    #[serde(default)]
    pub days_to_keep: Option<u32>,
    #[serde(default)]
    pub artifact_builds_to_keep: Option<u32>,
    #[serde(default)]
    pub artifact_days_to_keep: Option<u32>,
    /// Set by a `properties` step: applies whatever the pipeline declares, and stays until
    /// another build sets the job's properties. The fields below are left out when unset,
    /// so records without them read and write as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_step: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<JobParameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_concurrent: Option<bool>,
    /// The kinds a `properties` step run in a stage listed: the pipeline's own values of
    /// these kinds do not apply to the job (see kiln-engine's `Replaced`).
    #[serde(default, skip_serializing_if = "Replaced::is_none")]
    pub replaces: Replaced,
}

impl JobPropertiesRecord {
    pub(crate) fn of(build: u64, p: &JobProperties) -> Self {
        JobPropertiesRecord {
            build,
            cron: p.cron.clone(),
            poll: p.poll.clone(),
            param_cron: p.param_cron.clone(),
            builds_to_keep: p.builds_to_keep,
            days_to_keep: p.days_to_keep,
            artifact_builds_to_keep: p.artifact_builds_to_keep,
            artifact_days_to_keep: p.artifact_days_to_keep,
            by_step: p.by_step,
            parameters: p.parameters.clone(),
            disable_concurrent: p.disable_concurrent,
            replaces: p.replaces,
        }
    }

    /// The record in a job's stored `meta`, if any (a damaged one is skipped with a warning).
    fn read(job: &JobRecord) -> Option<Self> {
        let text = job.meta.get(META_KEY)?;
        match serde_json::from_str(text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(job = %job.name, error = %e, "ignoring a damaged job properties record");
                None
            }
        }
    }
}

/// `disableConcurrentBuilds()` of the job: the pipeline's option, else what a `properties`
/// step set (`Some(abort_previous)`).
pub(crate) fn disable_concurrent(shared: &Shared, job: &str) -> Option<bool> {
    let set = shared.job_properties(job);
    if let Some(set) = set.as_ref().filter(|s| s.replaces.concurrency) {
        return set.disable_concurrent;
    }
    let declared = shared
        .pipeline(job)
        .and_then(Result::ok)
        .and_then(|i| i.disable_concurrent);
    declared.or_else(|| set?.disable_concurrent)
}

/// `pipeline` with the parameters a `properties` step set for the job that it does not
/// declare itself, so triggers fill their defaults and check their values as for declared
/// ones, and the build resolves them; `None` when the step set none to add.
pub(crate) fn with_step_parameters(
    shared: &Shared,
    job: &str,
    pipeline: &Pipeline,
) -> Option<Pipeline> {
    let record = shared.job_properties(job)?;
    if record.replaces.parameters {
        // A `properties` step in a stage set the job's parameters: the step's alone.
        let mut out = pipeline.clone();
        out.parameters = record
            .parameters
            .iter()
            .map(|p| p.to_parameter(pipeline.span))
            .collect();
        return Some(out);
    }
    let added: Vec<&JobParameter> = record
        .parameters
        .iter()
        .filter(|p| !pipeline.parameters.iter().any(|d| d.name.value == p.name))
        .collect();
    if added.is_empty() {
        return None;
    }
    let mut out = pipeline.clone();
    out.parameters
        .extend(added.into_iter().map(|p| p.to_parameter(pipeline.span)));
    Some(out)
}

/// Every job's record, read when the scheduler starts.
pub(crate) fn load_all(store: &dyn Store) -> HashMap<String, JobPropertiesRecord> {
    match store.list_jobs() {
        Ok(jobs) => jobs
            .iter()
            .filter_map(|j| Some((j.name.to_string(), JobPropertiesRecord::read(j)?)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the jobs' recorded properties");
            HashMap::new()
        }
    }
}

/// Stores `record` for `name` (`None`: removes it); an older build's record never replaces
/// a newer one's.
pub(crate) fn write(store: &dyn Store, name: JobName, record: Option<&JobPropertiesRecord>) {
    let res = store.get_job(&name).and_then(|rec| {
        let mut rec = rec.unwrap_or(JobRecord {
            name: name.clone(),
            last_number: 0,
            meta: Default::default(),
        });
        let stored = JobPropertiesRecord::read(&rec);
        match record {
            Some(new) => {
                if stored.as_ref().is_some_and(|s| s.build > new.build)
                    || stored.as_ref() == Some(new)
                {
                    return Ok(());
                }
                let text = serde_json::to_string(new).map_err(|source| {
                    kiln_store::StoreError::Corrupt {
                        key: format!("{name}/{META_KEY}"),
                        source,
                    }
                })?;
                rec.meta.insert(META_KEY.to_owned(), text);
            }
            None => {
                if rec.meta.remove(META_KEY).is_none() {
                    return Ok(());
                }
            }
        }
        store.put_job(&rec)
    });
    if let Err(e) = res {
        tracing::warn!(job = %name, error = %e, "cannot record the job properties its build set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_testkit::MemoryStore;

    fn record(build: u64, cron: &str) -> JobPropertiesRecord {
        JobPropertiesRecord {
            build,
            cron: vec![cron.to_owned()],
            builds_to_keep: Some(3),
            ..JobPropertiesRecord::default()
        }
    }

    #[test]
    fn a_record_is_kept_in_the_jobs_meta_and_an_older_build_never_replaces_it() {
        let store = MemoryStore::new();
        let name = JobName::new("app").unwrap();
        write(&store, name.clone(), Some(&record(2, "H 4 * * *")));
        // The poll's commits (another meta key) and the build numbers stay as they were.
        let mut job = store.get_job(&name).unwrap().unwrap();
        job.meta.insert("poll:main".to_owned(), "abc".to_owned());
        store.put_job(&job).unwrap();
        write(&store, name.clone(), Some(&record(1, "H 5 * * *")));
        let all = load_all(&store);
        assert_eq!(all.get("app"), Some(&record(2, "H 4 * * *")));
        let text = &store.get_job(&name).unwrap().unwrap().meta[META_KEY];
        assert_eq!(
            text,
            r#"{"build":2,"cron":["H 4 * * *"],"poll":[],"builds_to_keep":3,"days_to_keep":null,"artifact_builds_to_keep":null,"artifact_days_to_keep":null}"#
        );
        write(&store, name.clone(), None);
        let job = store.get_job(&name).unwrap().unwrap();
        assert!(!job.meta.contains_key(META_KEY));
        assert_eq!(job.meta["poll:main"], "abc");
        assert!(load_all(&store).is_empty());
    }

    #[test]
    fn a_damaged_record_is_skipped() {
        let store = MemoryStore::new();
        let name = JobName::new("app").unwrap();
        let mut meta = std::collections::BTreeMap::new();
        meta.insert(META_KEY.to_owned(), "{not json".to_owned());
        store
            .put_job(&JobRecord {
                name,
                last_number: 4,
                meta,
            })
            .unwrap();
        assert!(load_all(&store).is_empty());
    }
}
