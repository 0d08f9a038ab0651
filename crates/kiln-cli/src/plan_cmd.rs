//! `kiln plan FILE`: the stage graph as a tree, Graphviz dot or JSON.

use crate::cli::{PlanArgs, PlanFormat};
use crate::load::counts;
use kiln_model::Document;
use std::process::ExitCode;

pub fn plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let (loaded, _) = crate::prepare::prepare(&args.file, &args.libraries, false)?;
    if loaded.errors() > 0 {
        eprint!("{}", loaded.render(false));
        eprintln!(
            "error: `{}` is not a valid pipeline ({})",
            args.file.display(),
            counts(loaded.errors(), loaded.warnings())
        );
        return Ok(ExitCode::from(1));
    }
    let pipeline = match loaded.document {
        Some(Document::Declarative(p)) => p,
        Some(Document::Scripted(_)) => {
            eprintln!(
                "error: `{}` is a scripted pipeline: its stages are known only when it runs (`kiln run` shows them as they start)",
                args.file.display()
            );
            return Ok(ExitCode::from(1));
        }
        None => return Ok(ExitCode::from(1)),
    };
    let plan = kiln_plan::plan(&pipeline);
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
