//! The build plan: a validated [`kiln_model::Pipeline`] lowered into a tree of stage nodes.
//!
//! A declarative pipeline is a tree, and so is its plan: top-level stages and the children of
//! a `stages` body run one after the other, `parallel` branches at the same time, and a
//! `matrix` expands into one cell per combination of axis values (excludes applied), the
//! cells running at the same time, each running the matrix's stages one after the other with
//! the axis values in its environment. The language has no way to make a stage wait for one
//! in another branch, so the plan keeps no edges beside the tree; [`Plan::runs_after`] spells
//! out the order the tree implies (the engine walks the same tree). Each node carries what
//! the engine needs to run it, with the agent it runs on resolved. Rendering as a tree,
//! Graphviz dot and JSON lives here too.
//!
//! [`agent_spec`] reads a pipeline's agent into kiln-types' plain-value [`kiln_types::AgentSpec`]
//! for execution backends.
//!
//! Pure: no IO, no tokio. Depends on kiln-model (and kiln-types for the agent's plain values).

mod agent;
mod build;
mod node;
mod render;

pub use agent::{Eval, agent_spec, value as agent_value};
pub use build::plan;
pub use node::{NodeBody, NodeId, Plan, PlanNode};
pub use render::{to_dot, to_json, to_tree};
