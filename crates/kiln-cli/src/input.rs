//! Answers `input` steps for `kiln run`: `--yes` approves, a terminal is asked, anything else
//! aborts with a reason.

use async_trait::async_trait;
use kiln_engine::{InputAnswer, InputHandler, InputKind, InputRequest};
use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

pub struct TerminalInput {
    pub assume_yes: bool,
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "local".into())
}

#[async_trait]
impl InputHandler for TerminalInput {
    async fn request(&self, req: InputRequest) -> InputAnswer {
        let defaults = req.defaults();
        if self.assume_yes {
            return InputAnswer::Proceed {
                values: defaults,
                by: format!("{} (--yes)", user()),
            };
        }
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "input `{}` needs an answer, but stdin is not a terminal: aborting (use --yes to approve)",
                req.message
            );
            return InputAnswer::Abort {
                by: "kiln run (no terminal)".into(),
            };
        }
        let answer = tokio::task::spawn_blocking(move || ask(&req, defaults)).await;
        answer.unwrap_or(InputAnswer::Abort {
            by: "kiln run".into(),
        })
    }
}

fn ask(req: &InputRequest, mut values: BTreeMap<String, String>) -> InputAnswer {
    let mut err = std::io::stderr();
    let stdin = std::io::stdin();
    let mut line = String::new();
    for p in &req.parameters {
        let name = &p.name;
        let default = match p.kind {
            InputKind::Password => "****".to_owned(),
            InputKind::Choice => p.choices.join("|"),
            _ => p.default.clone(),
        };
        let _ = write!(err, "{name} [{default}]: ");
        let _ = err.flush();
        line.clear();
        if stdin.lock().read_line(&mut line).is_err() {
            return InputAnswer::Abort { by: user() };
        }
        let v = line.trim();
        if !v.is_empty() {
            values.insert(name.clone(), v.to_string());
        }
    }
    let _ = write!(err, "{} [{} / abort]: ", req.message, req.ok);
    let _ = err.flush();
    line.clear();
    let _ = stdin.lock().read_line(&mut line);
    let a = line.trim().to_ascii_lowercase();
    if a.is_empty() || a == "y" || a == "yes" || a == req.ok.to_ascii_lowercase() || a == "proceed"
    {
        InputAnswer::Proceed { values, by: user() }
    } else {
        InputAnswer::Abort { by: user() }
    }
}
