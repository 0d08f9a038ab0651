use kiln_model::{Agent, EnvEntry, Input, Options, Pipeline, Post, Step, When};
use serde::Serialize;

/// Index of a node in [`Plan::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A planned build: the pipeline and its stages as a tree.
///
/// The tree is the whole plan: what runs after what follows from each node's body
/// ([`NodeBody`]), and nothing else orders stages (see [`Plan::runs_after`]).
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The pipeline-level parts the engine needs (agent, environment, options, post, ...);
    /// its `stages` are empty: they live on as `nodes`.
    #[serde(skip)]
    pub pipeline: Pipeline,
    pub nodes: Vec<PlanNode>,
    /// The top-level stages, run one after the other.
    pub roots: Vec<NodeId>,
}

impl Plan {
    pub fn node(&self, id: NodeId) -> &PlanNode {
        &self.nodes[id.index()]
    }

    /// Nodes in the order a depth-first walk of the stage tree meets them.
    pub fn walk(&self) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<NodeId> = self.roots.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            out.push(id);
            stack.extend(self.node(id).children.iter().rev().copied());
        }
        out
    }

    /// The order the tree implies between siblings, as the engine runs it: `(a, b)` means
    /// `b` starts only after `a` finished, because both are top-level stages, or children
    /// of a `stages` body or of a matrix cell, and `b` comes next. Children of `parallel`
    /// and matrix cells are not ordered. Derived from the tree, not kept beside it.
    pub fn runs_after(&self) -> Vec<(NodeId, NodeId)> {
        let sequential = self
            .nodes
            .iter()
            .filter(|n| matches!(n.body, NodeBody::Sequential | NodeBody::Cell))
            .map(|n| n.children.as_slice());
        std::iter::once(self.roots.as_slice())
            .chain(sequential)
            .flat_map(|siblings| siblings.windows(2).map(|w| (w[0], w[1])))
            .collect()
    }
}

/// One stage (or matrix cell) of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanNode {
    pub id: NodeId,
    /// The stage name; for matrix cells Jenkins' form, `Matrix - OS = 'linux', JDK = '17'`.
    pub name: String,
    /// Names from the top-level stage down to this one, for log prefixes and the UI.
    pub path: Vec<String>,
    pub parent: Option<NodeId>,
    /// The stages this one contains, in the order written; its body says whether they run
    /// one after the other or at the same time.
    pub children: Vec<NodeId>,
    pub body: NodeBody,
    /// The agent this node declares itself, if any.
    #[serde(skip)]
    pub agent: Option<Agent>,
    /// The agent it runs on after inheritance (`agent` keyword of the nearest declaration).
    pub effective_agent: String,
    /// This node's own environment; the engine layers it over its parents'.
    #[serde(skip)]
    pub environment: Vec<EnvEntry>,
    /// Axis values of a matrix cell (and of the stages inside it), as environment variables.
    pub axis_values: Vec<(String, String)>,
    #[serde(skip)]
    pub options: Options,
    #[serde(skip)]
    pub when: Option<When>,
    #[serde(skip)]
    pub input: Option<Input>,
    #[serde(skip)]
    pub post: Post,
    pub fail_fast: bool,
    /// Byte offset of the stage in the Jenkinsfile.
    pub source_offset: u32,
}

/// What running a node means.
#[derive(Clone, Debug, Serialize)]
pub enum NodeBody {
    /// Run these steps.
    Steps(#[serde(skip)] Vec<Step>),
    /// Run the children one after the other.
    Sequential,
    /// Run the children at the same time.
    Parallel,
    /// Run the cells (children) at the same time.
    Matrix,
    /// A matrix cell: run the children (the matrix's stages) one after the other.
    Cell,
}

impl NodeBody {
    pub fn kind(&self) -> &'static str {
        match self {
            NodeBody::Steps(_) => "steps",
            NodeBody::Sequential => "stages",
            NodeBody::Parallel => "parallel",
            NodeBody::Matrix => "matrix",
            NodeBody::Cell => "cell",
        }
    }
}
