use serde::{Deserialize, Serialize};

/// A job's name: letters, digits, `-`, `_` and `.`, at most 100 characters, not starting
/// with `.`; or a multibranch job's child, `PARENT/CHILD`: exactly one `/`, the parent such a
/// name and the child one too, where `%` may also stand as the start of an escaped byte
/// (`feature%2Fx` is the branch `feature/x`, as Jenkins names branch jobs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobName(String);

/// A name that is not a valid [`JobName`]; it holds the name as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid job name `{0}`: use letters, digits, `-`, `_` and `.`")]
pub struct InvalidJobName(pub String);

/// Whether `segment` is a plain job name (`%` allowed when `escaped`).
fn segment_ok(segment: &str, escaped: bool) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || (escaped && c == '%')
        })
}

impl JobName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidJobName> {
        let name = name.into();
        let ok = name.len() <= 100
            && match name.split_once('/') {
                None => segment_ok(&name, false),
                Some((parent, child)) => segment_ok(parent, false) && segment_ok(child, true),
            };
        if ok {
            Ok(JobName(name))
        } else {
            Err(InvalidJobName(name))
        }
    }

    /// The child `PARENT/CHILD` of a multibranch job for a branch, tag or change request
    /// named `child` (bytes other than letters, digits, `-`, `_` and `.` escaped as `%XX`).
    pub fn child(parent: &JobName, child: &str) -> Result<Self, InvalidJobName> {
        if parent.parent().is_some() {
            return Err(InvalidJobName(format!("{parent}/{child}")));
        }
        let mut escaped = String::with_capacity(child.len());
        for (i, b) in child.bytes().enumerate() {
            let plain =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || (b == b'.' && i > 0);
            if plain {
                escaped.push(char::from(b));
            } else {
                escaped.push_str(&format!("%{b:02X}"));
            }
        }
        JobName::new(format!("{parent}/{escaped}"))
    }

    /// The multibranch job this one is a child of.
    pub fn parent(&self) -> Option<&str> {
        self.0.split_once('/').map(|(parent, _)| parent)
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
        for ok in ["app/main", "app/PR-42", "app/feature%2Fx"] {
            assert_eq!(JobName::new(ok).map(String::from), Ok(ok.to_string()));
        }
        let bad_names = [
            "", ".hidden", "a/b/c", "/b", "a/", "a/.b", "a%2F/b", "a b", "a\0b", "ünï",
        ];
        for bad in bad_names.iter().copied().chain([&*"x".repeat(101)]) {
            assert_eq!(JobName::new(bad), Err(InvalidJobName(bad.to_string())));
        }
        assert_eq!(
            InvalidJobName("a/b/c".into()).to_string(),
            "invalid job name `a/b/c`: use letters, digits, `-`, `_` and `.`"
        );
    }

    #[test]
    fn children_escape_what_a_name_cannot_hold() {
        let app = JobName::new("app").unwrap();
        let child = |c: &str| JobName::child(&app, c).map(String::from);
        assert_eq!(child("main"), Ok("app/main".into()));
        assert_eq!(child("feature/x"), Ok("app/feature%2Fx".into()));
        assert_eq!(child(".v1"), Ok("app/%2Ev1".into()));
        assert_eq!(JobName::new("app/main").unwrap().parent(), Some("app"));
        assert_eq!(app.parent(), None);
        let main = JobName::new("app/main").unwrap();
        assert!(JobName::child(&main, "x").is_err(), "one level only");
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
        let err = serde_json::from_str::<BuildRef>(r#"{"job":"a/b/c","number":1}"#).unwrap_err();
        assert!(
            err.to_string().contains("invalid job name `a/b/c`"),
            "{err}"
        );
    }
}
