//! `lock(...) { }` and `options { lock(...) }`: resources taken through the build's
//! [`crate::Coordinator`] for the length of a block, a stage or the pipeline's stages, with
//! the Lockable Resources plugin's log lines. The lock is released when the block ends,
//! however it ends (an aborted build drops its future, and with it the lock).

use super::StepCall;
use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::{LockAttempt, LockGuard, LockRequest};
use kiln_model::OptionKind;
use kiln_script::Value;

/// A lock the build holds, with what to say when it is released.
pub(crate) struct Held {
    guard: LockGuard,
}

/// `lock('db')`, `lock(resource: 'db', label: 'x', quantity: 1, inversePrecedence: true,
/// variable: 'LOCKED')`: takes the resources; the block's scope gets the variable.
/// With `skipIfLocked: true` and the resources taken, `None`: the block is skipped.
pub(crate) async fn enter(call: &StepCall<'_>) -> Result<Option<(Scope, Held)>, StepError> {
    let quantity = call.int("quantity")?.unwrap_or(0);
    let quantity = u32::try_from(quantity).map_err(|_| {
        StepError::failed(format!(
            "lock: `quantity` must be 0 or more, not {quantity}"
        ))
    })?;
    let mut req = LockRequest {
        resources: call.string("resource")?.into_iter().collect(),
        label: call.string("label")?.filter(|l| !l.is_empty()),
        quantity,
        inverse_precedence: call.bool("inversePrecedence", false)?,
    };
    extra(call, &mut req)?;
    let variable = call.string("variable")?;
    let held = if call.bool("skipIfLocked", false)? {
        match try_now(call.build, call.scope, req)? {
            Some(held) => held,
            None => return Ok(None),
        }
    } else {
        acquire(call.build, call.scope, req).await?
    };
    let scope = with_variable(call.scope, variable.as_deref(), &held);
    Ok(Some((scope, held)))
}

/// `skipIfLocked: true`: takes the resources if they are free now; when they are taken, says
/// so and gives up its place in the queue (`None`).
fn try_now(build: &Build, scope: &Scope, req: LockRequest) -> Result<Option<Held>, StepError> {
    let log = |line: &str| build.log(scope.node, line, scope.timestamps);
    let what = req.describe();
    match build
        .spec
        .coordinator
        .lock(req)
        .map_err(StepError::failed)?
    {
        LockAttempt::Held(guard) => {
            log(&format!(
                "Lock acquired on [{}]",
                guard.resources.join(", ")
            ));
            Ok(Some(Held { guard }))
        }
        // Dropping the wait gives up the place in the queue.
        LockAttempt::Waiting { .. } => {
            log(&format!("{what} is locked, skipping execution..."));
            Ok(None)
        }
    }
}

/// `extra: [[resource: 'b'], [label: 'x', quantity: 1]]`: more resources in the same
/// request (one label per request: a second one is refused).
fn extra(call: &StepCall<'_>, req: &mut LockRequest) -> Result<(), StepError> {
    let items = match call.value("extra")? {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::List(items)) => items,
        Some(other) => {
            return Err(StepError::failed(format!(
                "lock: `extra` must be a list of maps such as [[resource: 'db']], not {}",
                other.kind()
            )));
        }
    };
    for item in &items {
        if let Some(r) = item
            .get("resource")
            .map(|v| v.to_string())
            .filter(|r| !r.is_empty())
        {
            req.resources.push(r);
        }
        if let Some(l) = item
            .get("label")
            .map(|v| v.to_string())
            .filter(|l| !l.is_empty())
        {
            if req.label.as_ref().is_some_and(|old| *old != l) {
                return Err(StepError::failed(format!(
                    "lock: kiln takes one label per lock; `extra` names label `{l}` besides `{}`",
                    req.label.as_deref().unwrap_or_default()
                )));
            }
            req.label = Some(l);
            if let Some(Value::Int(q)) = item.get("quantity") {
                req.quantity = u32::try_from(*q).unwrap_or(0);
            }
        }
    }
    Ok(())
}

/// What an `options { lock(...) }` asks for.
pub(crate) struct OptionLock {
    req: LockRequest,
    /// The variable naming the resources taken.
    pub(crate) variable: Option<String>,
    skip_if_locked: bool,
}

/// The request of an `options { lock(...) }`.
pub(crate) fn from_option(o: &OptionKind) -> Option<OptionLock> {
    let OptionKind::Lock(l) = o else { return None };
    Some(OptionLock {
        req: LockRequest {
            resources: l.resource.iter().cloned().collect(),
            label: l.label.clone(),
            quantity: l.quantity,
            inverse_precedence: l.inverse_precedence,
        },
        variable: l.variable.clone(),
        skip_if_locked: l.skip_if_locked,
    })
}

/// Takes an option's resources, waiting for them; with `skipIfLocked: true` and the resources
/// taken, `None` at once (said in the log): the stages it guards are skipped.
pub(crate) async fn acquire_option(
    build: &Build,
    scope: &Scope,
    lock: OptionLock,
) -> Result<Option<Held>, StepError> {
    if lock.skip_if_locked {
        try_now(build, scope, lock.req)
    } else {
        acquire(build, scope, lock.req).await.map(Some)
    }
}

/// Takes the resources, saying in the log what the build waits for and who holds it.
pub(crate) async fn acquire(
    build: &Build,
    scope: &Scope,
    req: LockRequest,
) -> Result<Held, StepError> {
    let log = |line: &str| build.log(scope.node, line, scope.timestamps);
    let what = req.describe();
    log(&format!("Trying to acquire lock on {what}"));
    let attempt = build
        .spec
        .coordinator
        .lock(req)
        .map_err(StepError::failed)?;
    let guard = match attempt {
        LockAttempt::Held(g) => g,
        LockAttempt::Waiting { held_by, granted } => {
            let mut said = Vec::new();
            for (resource, holder) in &held_by {
                let line = format!("Waiting for lock {resource}, held by {holder}");
                if !said.contains(&line) {
                    log(&line);
                    said.push(line);
                }
            }
            if held_by.is_empty() {
                log(&format!(
                    "Waiting for lock {what}: older requests come first"
                ));
            }
            tokio::select! {
                g = granted => g.ok_or_else(|| StepError::aborted(format!("lock {what}: the wait ended without the lock")))?,
                () = scope.cancel.cancelled() => {
                    return Err(StepError::aborted(format!("the build was aborted while waiting for lock {what}")));
                }
            }
        }
    };
    log(&format!(
        "Lock acquired on [{}]",
        guard.resources.join(", ")
    ));
    Ok(Held { guard })
}

impl Held {
    /// Releases the resources, saying so.
    pub(crate) fn release(self, build: &Build, scope: &Scope) {
        let names = self.guard.resources.join(", ");
        drop(self.guard);
        build.log(
            scope.node,
            &format!("Lock released on resource [{names}]"),
            scope.timestamps,
        );
    }
}

/// `variable: 'LOCKED'`: `LOCKED` lists the resources held (comma-separated), `LOCKED0`,
/// `LOCKED1`... name each, as in the plugin.
pub(crate) fn with_variable(scope: &Scope, variable: Option<&str>, held: &Held) -> Scope {
    let Some(var) = variable.filter(|v| !v.is_empty()) else {
        return scope.clone();
    };
    let names = &held.guard.resources;
    let mut vars = vec![(var.to_owned(), names.join(","))];
    vars.extend(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{var}{i}"), n.clone())),
    );
    scope.with_env(vars)
}
