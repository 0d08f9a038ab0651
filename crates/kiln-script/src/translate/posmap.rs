//! The map from positions in generated Rhai code back to spans in the Jenkinsfile.

use kiln_diagnostics::Span;

/// One generated range `start..end` (byte offsets in the Rhai code) produced by the
/// Groovy construct at `span`.
#[derive(Clone, Copy, Debug)]
struct Mark {
    start: u32,
    end: u32,
    span: Span,
}

/// Ranges of generated code and the Groovy spans they came from; nested constructs
/// have nested ranges.
#[derive(Clone, Debug, Default)]
pub(crate) struct PosMap {
    marks: Vec<Mark>,
    line_starts: Vec<u32>,
}

impl PosMap {
    /// Opens a range at `offset`; returns its index for [`PosMap::close`].
    pub fn open(&mut self, offset: usize, span: Span) -> usize {
        let at = offset as u32;
        self.marks.push(Mark {
            start: at,
            end: at,
            span,
        });
        self.marks.len() - 1
    }

    pub fn close(&mut self, index: usize, offset: usize) {
        if let Some(m) = self.marks.get_mut(index) {
            m.end = offset as u32;
        }
    }

    /// Records where the lines of the finished code start.
    pub fn finish(&mut self, code: &str) {
        self.line_starts = std::iter::once(0)
            .chain(code.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
    }

    /// The Groovy span for a Rhai position (1-based line and column): the innermost
    /// range containing it.
    pub fn lookup(&self, line: usize, column: usize) -> Option<Span> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let offset = start + column.saturating_sub(1) as u32;
        let containing = self
            .marks
            .iter()
            .filter(|m| m.start <= offset && offset < m.end);
        let best = containing.max_by(|a, b| a.start.cmp(&b.start).then_with(|| b.end.cmp(&a.end)));
        best.or_else(|| self.marks.iter().rev().find(|m| m.start <= offset))
            .map(|m| m.span)
    }

    /// The span of the whole unit (the first range opened).
    pub fn outermost(&self) -> Option<Span> {
        self.marks.iter().map(|m| m.span).reduce(Span::to)
    }
}
