//! The build plan: a validated [`kiln_model::Pipeline`] lowered into a DAG of stage nodes.
//!
//! Sequential stages become a chain, `parallel` branches fan out and join, nested `stages`
//! become a chain under their parent, and a `matrix` expands into one cell per combination of
//! axis values (excludes applied), each cell running the matrix's stages with the axis values
//! in its environment. Each node carries what the engine needs to run it, with the agent it
//! runs on resolved. Rendering as a tree, Graphviz dot and JSON lives here too.
//!
//! Pure: no IO, no tokio. Depends on kiln-model only.

mod build;
mod node;
mod render;

pub use build::plan;
pub use node::{NodeBody, NodeId, Plan, PlanNode};
pub use render::{to_dot, to_json, to_tree};
