//! What a script sees of its build: `env`, `params`, `currentBuild`, other globals, and the
//! variables and functions earlier blocks of the same pipeline defined.

use crate::run::Library;
use crate::runtime::types::{from_value, to_plain_value};
use crate::value::Value;
use kiln_diagnostics::SourceFile;
use rhai::Dynamic;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The fields of `currentBuild` a script can read; `result`, `displayName` and
/// `description` are writable, and read back after evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentBuild {
    pub number: i64,
    /// `null` until set, like Jenkins; the engine decides what a set result means.
    pub result: Option<String>,
    pub current_result: String,
    pub display_name: String,
    pub description: Option<String>,
    pub duration_string: String,
    /// Anything else (`id`, `absoluteUrl`, `buildCauses`, ...), readable as properties and
    /// as getters (`getBuildCauses()`).
    pub extra: BTreeMap<String, Value>,
}

impl Default for CurrentBuild {
    fn default() -> Self {
        CurrentBuild {
            number: 0,
            result: None,
            current_result: "SUCCESS".to_string(),
            display_name: "#0".to_string(),
            description: None,
            duration_string: "0 ms and counting".to_string(),
            extra: BTreeMap::new(),
        }
    }
}

impl CurrentBuild {
    pub(crate) fn to_map(&self) -> rhai::Map {
        let mut m = rhai::Map::new();
        for (k, v) in &self.extra {
            m.insert(k.as_str().into(), from_value(v));
        }
        let opt = |s: &Option<String>| s.clone().map_or(Dynamic::UNIT, Dynamic::from);
        m.insert("number".into(), Dynamic::from_int(self.number));
        m.insert("result".into(), opt(&self.result));
        m.insert(
            "currentResult".into(),
            Dynamic::from(self.current_result.clone()),
        );
        m.insert(
            "displayName".into(),
            Dynamic::from(self.display_name.clone()),
        );
        m.insert("description".into(), opt(&self.description));
        m.insert(
            "durationString".into(),
            Dynamic::from(self.duration_string.clone()),
        );
        m
    }

    pub(crate) fn read_back(&mut self, m: &rhai::Map) {
        let text = |k: &str| {
            m.get(k)
                .filter(|v| !v.is_unit())
                .map(crate::runtime::types::groovy_str)
        };
        self.result = text("result");
        self.description = text("description");
        if let Some(name) = text("displayName") {
            self.display_name = name;
        }
        for (k, v) in m {
            let known = matches!(
                k.as_str(),
                "number"
                    | "result"
                    | "currentResult"
                    | "displayName"
                    | "description"
                    | "durationString"
            );
            if !known {
                self.extra.insert(k.to_string(), to_plain_value(v));
            }
        }
    }
}

/// The state a script runs against. Evaluations read and write it: `env.X = ...` and
/// `currentBuild.result = ...` are visible in the context afterwards, and so are script
/// variables (assigned without `def`, or declared at the top level of a block) and
/// functions defined by earlier blocks, as a Jenkinsfile's preamble makes them visible
/// to its `script { }` blocks.
#[derive(Clone)]
pub struct ScriptContext {
    pub env: BTreeMap<String, String>,
    pub params: BTreeMap<String, Value>,
    pub current_build: CurrentBuild,
    /// Read-only globals such as `scm`; bare names not found elsewhere fall back to
    /// `env`, as in Jenkins (`BRANCH_NAME`).
    pub globals: BTreeMap<String, Value>,
    /// Set to stop the script: it ends with "build was cancelled".
    pub cancel: Arc<AtomicBool>,
    /// An absolute deadline (e.g. from a `timeout` step), besides the engine's own limit
    /// on script time.
    pub deadline: Option<Instant>,
    /// The file spans refer to; with it, errors name the line.
    pub source: Option<Arc<SourceFile>>,
    pub(crate) vars: BTreeMap<String, Dynamic>,
    pub(crate) library: Library,
}

impl Default for ScriptContext {
    fn default() -> Self {
        ScriptContext::new()
    }
}

impl std::fmt::Debug for ScriptContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptContext")
            .field("env", &self.env)
            .field("params", &self.params)
            .field("current_build", &self.current_build)
            .field("globals", &self.globals)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ScriptContext {
    pub fn new() -> Self {
        ScriptContext {
            env: BTreeMap::new(),
            params: BTreeMap::new(),
            current_build: CurrentBuild::default(),
            globals: BTreeMap::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            deadline: None,
            source: None,
            vars: BTreeMap::new(),
            library: Library::default(),
        }
    }

    /// A script variable (closures read as null).
    pub fn var(&self, name: &str) -> Option<Value> {
        self.vars.get(name).map(to_plain_value)
    }

    /// Sets a script variable, visible to later evaluations as a bare name.
    pub fn set_var(&mut self, name: impl Into<String>, value: &Value) {
        self.vars.insert(name.into(), from_value(value));
    }

    /// The names of the script variables.
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Takes over the script variables and functions `other` defined (another
    /// evaluation of the same build, e.g. a `script { }` block of a parallel branch).
    pub fn adopt_definitions(&mut self, other: &ScriptContext) {
        self.vars
            .extend(other.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        for unit in &other.library.units {
            self.library.add(unit);
        }
    }

    /// The names of functions defined by evaluated blocks (`def f() {}`).
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.library.function_names()
    }
}
