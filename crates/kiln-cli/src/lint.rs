//! `kiln lint FILE...`: every problem of every file in one pass.

use crate::cli::{LintArgs, LintFormat};
use crate::load::{counts, use_color};
use kiln_diagnostics::{Diagnostic, Severity};
use std::io::Write as _;
use std::process::ExitCode;

pub fn lint(args: &LintArgs) -> anyhow::Result<ExitCode> {
    let color = use_color(args.color, &std::io::stderr());
    let mut failed = false;
    let mut json = Vec::new();
    for path in &args.files {
        let mut checked = crate::prepare::prepare(path, &args.libraries, false)?;
        let loaded = checked.loaded_mut();
        if args.strict {
            strict(&mut loaded.diagnostics);
        }
        let bad = loaded.errors() > 0 || (args.deny_warnings && loaded.warnings() > 0);
        failed |= bad;
        match args.format {
            LintFormat::Json => {
                json.push(serde_json::json!({
                    "file": path.display().to_string(),
                    "valid": !bad,
                    "diagnostics": kiln_diagnostics::to_json(&loaded.diagnostics, &loaded.source),
                }));
            }
            LintFormat::Human => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "{}", loaded.render(color));
                if loaded.diagnostics.is_empty() {
                    let _ = writeln!(std::io::stdout(), "{}: ok", path.display());
                } else if loaded.errors() == 0 {
                    let _ = writeln!(
                        err,
                        "{}: ok ({})",
                        path.display(),
                        counts(0, loaded.warnings())
                    );
                } else {
                    let _ = writeln!(
                        err,
                        "{}: invalid ({})",
                        path.display(),
                        counts(loaded.errors(), loaded.warnings())
                    );
                }
            }
        }
    }
    if args.format == LintFormat::Json {
        outln!("{}", serde_json::to_string_pretty(&json)?)?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--strict`: a step kiln does not provide is an error, not a warning.
fn strict(diagnostics: &mut [Diagnostic]) {
    for d in diagnostics {
        if [kiln_model::UNSUPPORTED_STEP, kiln_model::UNKNOWN_STEP].contains(&d.code) {
            d.severity = Severity::Error;
        }
    }
}
