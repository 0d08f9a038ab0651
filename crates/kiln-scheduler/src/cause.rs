//! Build causes as the store keeps them: Jenkins' sentence (`Started by user alice`), read
//! back into a [`BuildCause`] when a queued build runs after a restart.

use kiln_engine::BuildCause;

/// The stored form of a cause.
pub(crate) fn to_stored(cause: &BuildCause) -> String {
    cause.description()
}

/// The cause a stored sentence describes (anything unknown reads as a webhook's sentence).
pub(crate) fn from_stored(text: &str) -> BuildCause {
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
    use super::{from_stored, to_stored};
    use kiln_engine::BuildCause;

    #[test]
    fn causes_survive_the_store() {
        for cause in [
            BuildCause::User("alice".into()),
            BuildCause::Timer,
            BuildCause::Scm,
            BuildCause::Upstream {
                job: "lib".into(),
                number: 12,
            },
            BuildCause::Webhook("GitHub push by bob".into()),
        ] {
            assert_eq!(from_stored(&to_stored(&cause)), cause);
        }
    }
}
