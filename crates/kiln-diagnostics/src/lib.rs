//! Spans, line indexes and diagnostics: how kiln reports anything a user wrote.
//!
//! Every front-end phase (syntax, model, script translation) reports problems as
//! [`Diagnostic`]s carrying byte-offset [`Span`]s into a [`SourceFile`]. They are rendered
//! in exactly one place, [`render`], so `kiln lint`, `kiln run` and the server show the
//! same caret snippets, and in one JSON shape, [`to_json`], for editors and CI.
//!
//! This crate does no IO and depends on nothing of kiln's.

mod diagnostic;
mod render;
mod source;
mod span;
mod suggest;

pub use diagnostic::{Diagnostic, Label, Severity};
pub use render::{RenderOptions, render, render_all, to_json};
pub use source::{LineCol, SourceFile};
pub use span::{Span, Spanned};
pub use suggest::did_you_mean;
