use crate::Computed;
use kiln_diagnostics::Span;
use kiln_syntax::ast::Expr;
use serde::Serialize;

/// The `options { }` of a pipeline or stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Options {
    pub items: Vec<PipelineOption>,
}

impl Options {
    pub fn iter(&self) -> impl Iterator<Item = &OptionKind> {
        self.items.iter().map(|o| &o.kind)
    }

    pub fn timeout(&self) -> Option<Timeout> {
        self.iter().find_map(|o| match o {
            OptionKind::Timeout(t) => Some(*t),
            _ => None,
        })
    }

    pub fn retry(&self) -> Option<u32> {
        self.iter().find_map(|o| match o {
            OptionKind::Retry(n) => Some(*n),
            _ => None,
        })
    }

    /// The block steps the stages run inside, outermost first.
    pub fn wrappers(&self) -> Vec<&crate::Step> {
        self.iter()
            .filter_map(|o| match o {
                OptionKind::Wrapper { step, .. } => Some(step.as_ref()),
                _ => None,
            })
            .collect()
    }

    pub fn has(&self, pred: impl Fn(&OptionKind) -> bool) -> bool {
        self.iter().any(pred)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PipelineOption {
    pub kind: OptionKind,
    pub span: Span,
}

/// `timeout(time: 1, unit: 'HOURS', activity: false)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timeout {
    pub millis: u64,
    /// `activity: true`: the clock restarts whenever the log grows.
    pub activity: bool,
}

/// `buildDiscarder(logRotator(numToKeepStr: '10', daysToKeepStr: '30'))`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Retention {
    pub builds_to_keep: Option<u32>,
    pub days_to_keep: Option<u32>,
    pub artifact_builds_to_keep: Option<u32>,
    pub artifact_days_to_keep: Option<u32>,
    /// Counts written as expressions (`numToKeepStr: "${N}"`): the build evaluates them
    /// and records the counts for the job (the literal count beside it is then `None`).
    pub at_start: RetentionExprs,
}

/// The counts of a `logRotator` written as expressions, evaluated by the build.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RetentionExprs {
    pub builds_to_keep: Option<Box<Expr>>,
    pub days_to_keep: Option<Box<Expr>>,
    pub artifact_builds_to_keep: Option<Box<Expr>>,
    pub artifact_days_to_keep: Option<Box<Expr>>,
}

impl RetentionExprs {
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Each count written as an expression, with the `logRotator` key Jenkinsfiles name it by.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Expr)> {
        [
            ("numToKeepStr", &self.builds_to_keep),
            ("daysToKeepStr", &self.days_to_keep),
            ("artifactNumToKeepStr", &self.artifact_builds_to_keep),
            ("artifactDaysToKeepStr", &self.artifact_days_to_keep),
        ]
        .into_iter()
        .filter_map(|(k, e)| e.as_deref().map(|e| (k, e)))
    }
}

/// The documented declarative options. Those that act on a server (retention, concurrency,
/// quiet period) are kept for it; `kiln run` says which it ignores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum OptionKind {
    Timeout(Timeout),
    Retry(u32),
    Timestamps,
    AnsiColor(String),
    DisableConcurrentBuilds {
        abort_previous: bool,
    },
    BuildDiscarder(Retention),
    SkipDefaultCheckout(bool),
    SkipStagesAfterUnstable,
    ParallelsAlwaysFailFast,
    QuietPeriod(u32),
    /// The directory, evaluated when the build starts.
    CheckoutToSubdirectory(Computed<String>),
    PreserveStashes {
        build_count: u32,
    },
    DisableResume,
    NewContainerPerStage,
    /// `durabilityHint('PERFORMANCE_OPTIMIZED')`: kiln's store is always durable.
    DurabilityHint(String),
    /// `overrideIndexTriggers(false)`.
    OverrideIndexTriggers(bool),
    /// `lock('resource')` / `lock(resource: 'x', label: 'y', quantity: 1, ...)`.
    Lock(LockOption),
    /// `copyArtifactPermission('job')`.
    CopyArtifactPermission(String),
    /// `disableRestartFromStage()`.
    DisableRestartFromStage,
    /// `rateLimitBuilds(throttle: [count: 1, durationName: 'hour'])`: kiln's queue has no
    /// rate limit; the build log says so.
    RateLimitBuilds,
    /// A block step used as an option (`withCredentials([...])`, `withEnv([...])`,
    /// `sshagent([...])`): the pipeline's or stage's stages run inside it, as in Jenkins.
    Wrapper {
        name: &'static str,
        step: Box<crate::Step>,
    },
}

/// What `options { lock(...) }` takes around the pipeline's stages or a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockOption {
    pub resource: Option<String>,
    pub label: Option<String>,
    /// How many resources with the label (0: all of them).
    pub quantity: u32,
    pub inverse_precedence: bool,
    /// The variable naming the resources taken.
    pub variable: Option<String>,
    /// `skipIfLocked: true`: when the resources are taken, the stages are skipped at once.
    pub skip_if_locked: bool,
}

impl OptionKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            OptionKind::Timeout(_) => "timeout",
            OptionKind::Retry(_) => "retry",
            OptionKind::Timestamps => "timestamps",
            OptionKind::AnsiColor(_) => "ansiColor",
            OptionKind::DisableConcurrentBuilds { .. } => "disableConcurrentBuilds",
            OptionKind::BuildDiscarder(_) => "buildDiscarder",
            OptionKind::SkipDefaultCheckout(_) => "skipDefaultCheckout",
            OptionKind::SkipStagesAfterUnstable => "skipStagesAfterUnstable",
            OptionKind::ParallelsAlwaysFailFast => "parallelsAlwaysFailFast",
            OptionKind::QuietPeriod(_) => "quietPeriod",
            OptionKind::CheckoutToSubdirectory(_) => "checkoutToSubdirectory",
            OptionKind::PreserveStashes { .. } => "preserveStashes",
            OptionKind::DisableResume => "disableResume",
            OptionKind::NewContainerPerStage => "newContainerPerStage",
            OptionKind::DurabilityHint(_) => "durabilityHint",
            OptionKind::OverrideIndexTriggers(_) => "overrideIndexTriggers",
            OptionKind::Lock(_) => "lock",
            OptionKind::CopyArtifactPermission(_) => "copyArtifactPermission",
            OptionKind::DisableRestartFromStage => "disableRestartFromStage",
            OptionKind::RateLimitBuilds => "rateLimitBuilds",
            OptionKind::Wrapper { name, .. } => name,
        }
    }

    /// Options kiln accepts, as Jenkins users write them, but does not act on; a build
    /// says so in its log.
    pub fn has_no_effect(&self) -> bool {
        matches!(
            self,
            OptionKind::RateLimitBuilds
                | OptionKind::CopyArtifactPermission(_)
                | OptionKind::OverrideIndexTriggers(_)
        )
    }
}
