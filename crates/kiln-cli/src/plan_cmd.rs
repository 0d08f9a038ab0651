//! `kiln plan FILE`: the stage graph as a tree, Graphviz dot or JSON.

use crate::cli::{PlanArgs, PlanFormat};
use crate::load::counts;
use crate::prepare::Checked;
use std::process::ExitCode;

pub fn plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let prepared = match crate::prepare::prepare(&args.file, &args.libraries, false)? {
        Checked::Ready(prepared) => prepared,
        Checked::Invalid(loaded) => {
            eprint!("{}", loaded.render(false));
            eprintln!(
                "error: `{}` is not a valid pipeline ({})",
                args.file.display(),
                counts(loaded.errors(), loaded.warnings())
            );
            return Ok(ExitCode::from(1));
        }
    };
    if prepared.scripted.is_some() {
        eprintln!(
            "error: `{}` is a scripted pipeline: its stages are known only when it runs (`kiln run` shows them as they start)",
            args.file.display()
        );
        return Ok(ExitCode::from(1));
    }
    let plan = prepared.plan();
    let out = match args.format {
        PlanFormat::Tree => kiln_plan::to_tree(&plan),
        PlanFormat::Dot => kiln_plan::to_dot(&plan),
        PlanFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&kiln_plan::to_json(&plan))?
        ),
    };
    crate::output::print(format_args!("{out}"))?;
    Ok(ExitCode::SUCCESS)
}
