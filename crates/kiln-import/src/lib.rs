//! `kiln import jenkins`: a Jenkins controller read into a commented `kiln.yaml`.
//!
//! The input is a Configuration-as-Code file ([`jcasc`]) and a copy of `$JENKINS_HOME/jobs`
//! ([`jobs`]: pipeline jobs, multibranch projects, folders). What kiln has an equivalent of
//! becomes configuration; everything else is a [`Finding`] with the reason, shown to the user
//! and written as a comment, never dropped silently. Secret values are never copied:
//! credentials become entries that read an environment variable or a file. [`audit`] groups
//! the diagnostics of kiln's linter over every job's Jenkinsfile into one report.
//!
//! The output is written as text by [`yaml_out`] (comments are part of the result), so the
//! YAML reader is kiln-yaml's alone. This crate does no IO besides reading the files and
//! folders it is given, and depends on no runtime crate.

pub mod audit;
mod document;
mod error;
mod finding;
pub mod jcasc;
pub mod jobs;
mod names;
mod xml;
pub mod yaml_out;

pub use document::{Imported, ImportedJob, InlineScript, import};
pub use error::ImportError;
pub use finding::Finding;
