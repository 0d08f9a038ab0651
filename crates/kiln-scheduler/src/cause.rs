//! Build causes as the store keeps them: Jenkins' sentence (`Started by user alice`) for
//! people, and a [`CauseRecord`] of keys that a queued build running after a restart, and
//! the chain of upstream builds, are read back from.

use kiln_engine::BuildCause;
use kiln_store::{BuildRecord, CauseRecord, NewBuild};

/// A new build's cause: its sentence and its keys.
pub(crate) fn store(cause: &BuildCause, new: &mut NewBuild) {
    new.cause = cause.description();
    new.started_by = Some(to_record(cause));
}

fn to_record(cause: &BuildCause) -> CauseRecord {
    match cause.clone() {
        BuildCause::User(user) => CauseRecord::User { user },
        // The parameters are the build's own; its sentence names them.
        BuildCause::Timer | BuildCause::ParameterizedTimer(_) => CauseRecord::Timer,
        BuildCause::Scm => CauseRecord::Scm,
        BuildCause::Upstream { job, number } => CauseRecord::Upstream { job, number },
        BuildCause::Webhook(what) => CauseRecord::Webhook { what },
    }
}

/// The cause of a stored build: from its keys, or for a record written before builds had
/// them, from its sentence.
pub(crate) fn of(record: &BuildRecord) -> BuildCause {
    match record.started_by.clone() {
        Some(CauseRecord::User { user }) => BuildCause::User(user),
        Some(CauseRecord::Timer) => BuildCause::Timer,
        Some(CauseRecord::Scm) => BuildCause::Scm,
        Some(CauseRecord::Upstream { job, number }) => BuildCause::Upstream { job, number },
        Some(CauseRecord::Webhook { what }) => BuildCause::Webhook(what),
        None => from_legacy_sentence(&record.cause),
    }
}

/// The cause an older record's sentence describes (anything unknown reads as a webhook's
/// sentence). Only records stored before causes had keys are read this way.
fn from_legacy_sentence(text: &str) -> BuildCause {
    let Some(rest) = text.strip_prefix("Started by ") else {
        return BuildCause::Webhook(text.to_owned());
    };
    if let Some(user) = rest.strip_prefix("user ") {
        return BuildCause::User(user.to_owned());
    }
    match rest {
        "timer" => return BuildCause::Timer,
        "an SCM change" => return BuildCause::Scm,
        _ => {}
    }
    if let Some(up) = rest.strip_prefix("upstream project ") {
        if let Some((job, number)) = up.rsplit_once(" build number ") {
            if let Ok(number) = number.parse() {
                return BuildCause::Upstream {
                    job: job.to_owned(),
                    number,
                };
            }
        }
    }
    BuildCause::Webhook(rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{from_legacy_sentence, of, store};
    use kiln_engine::BuildCause;
    use kiln_store::{BuildRecord, NewBuild};
    use kiln_types::{BuildRef, JobName};

    fn causes() -> [BuildCause; 5] {
        [
            BuildCause::User("alice".into()),
            BuildCause::Timer,
            BuildCause::Scm,
            BuildCause::Upstream {
                job: "lib".into(),
                number: 12,
            },
            BuildCause::Webhook("GitHub push by bob".into()),
        ]
    }

    fn stored(cause: &BuildCause) -> BuildRecord {
        let mut new = NewBuild::default();
        store(cause, &mut new);
        let id = BuildRef {
            job: JobName::new("app").unwrap(),
            number: 1,
        };
        BuildRecord::queued(id, new)
    }

    #[test]
    fn causes_survive_the_store() {
        for cause in causes() {
            assert_eq!(of(&stored(&cause)), cause);
            assert_eq!(stored(&cause).cause, cause.description());
        }
    }

    /// Regression: a cause is read from its keys, so rewording its sentence (here, one
    /// that reads like another cause's) changes nothing.
    #[test]
    fn the_sentence_is_not_read_when_the_keys_are_there() {
        let mut record = stored(&BuildCause::User("alice".into()));
        record.cause = "Started by timer".into();
        assert_eq!(of(&record), BuildCause::User("alice".into()));
    }

    #[test]
    fn records_without_keys_are_read_from_their_sentence() {
        for cause in causes() {
            let mut record = stored(&cause);
            record.started_by = None;
            assert_eq!(of(&record), cause);
            assert_eq!(from_legacy_sentence(&cause.description()), cause);
        }
    }
}
