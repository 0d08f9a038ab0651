use serde::{Deserialize, Serialize};

/// A job's name: letters, digits, `-`, `_` and `.`, at most 100 characters, not starting
/// with `.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobName(String);

/// A name that is not a valid [`JobName`]; it holds the name as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid job name `{0}`: use letters, digits, `-`, `_` and `.`")]
pub struct InvalidJobName(pub String);

impl JobName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidJobName> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(JobName(name))
        } else {
            Err(InvalidJobName(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobName {
    type Error = InvalidJobName;

    fn try_from(s: String) -> Result<Self, InvalidJobName> {
        JobName::new(s)
    }
}

impl From<JobName> for String {
    fn from(j: JobName) -> String {
        j.0
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One build of one job: `JOB#N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BuildRef {
    pub job: JobName,
    pub number: u64,
}

impl std::fmt::Display for BuildRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.job, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_follow_the_rule() {
        for ok in ["a", "app-1", "a_b.c", &"x".repeat(100)] {
            assert_eq!(JobName::new(ok).map(String::from), Ok(ok.to_string()));
        }
        for bad in ["", ".hidden", "a/b", "a b", "a\0b", "ünï", &"x".repeat(101)] {
            assert_eq!(JobName::new(bad), Err(InvalidJobName(bad.to_string())));
        }
        assert_eq!(
            InvalidJobName("a/b".into()).to_string(),
            "invalid job name `a/b`: use letters, digits, `-`, `_` and `.`"
        );
    }

    // The stored format: a build reference is `{"job": NAME, "number": N}` and a job name is
    // its plain string, checked when read.
    #[test]
    fn build_refs_keep_their_stored_format() {
        let id = BuildRef {
            job: JobName::new("app").unwrap(),
            number: 7,
        };
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(text, r#"{"job":"app","number":7}"#);
        assert_eq!(serde_json::from_str::<BuildRef>(&text).unwrap(), id);
        assert_eq!(id.to_string(), "app#7");
        let err = serde_json::from_str::<BuildRef>(r#"{"job":"a/b","number":1}"#).unwrap_err();
        assert!(err.to_string().contains("invalid job name `a/b`"), "{err}");
    }
}
