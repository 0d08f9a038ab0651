use crate::{NodeBody, NodeId, Plan, PlanNode};
use kiln_model::{Agent, AgentKind, Matrix, Pipeline, Stage, StageBody};
use kiln_syntax::ast::Expr;

/// Lowers a validated pipeline into its plan.
pub fn plan(pipeline: &Pipeline) -> Plan {
    let mut b = Builder { nodes: Vec::new() };
    let top_agent = describe_agent(&pipeline.agent);
    let roots = b.siblings(&pipeline.stages, None, &[], &top_agent, &[]);
    // The plan keeps the pipeline-level parts; the stages live on in the nodes.
    let head = Pipeline {
        preamble: pipeline.preamble.clone(),
        agent: pipeline.agent.clone(),
        environment: pipeline.environment.clone(),
        options: pipeline.options.clone(),
        parameters: pipeline.parameters.clone(),
        triggers: pipeline.triggers.clone(),
        tools: pipeline.tools.clone(),
        libraries: pipeline.libraries.clone(),
        stages: Vec::new(),
        post: pipeline.post.clone(),
        span: pipeline.span,
    };
    Plan {
        pipeline: head,
        nodes: b.nodes,
        roots,
    }
}

struct Builder {
    nodes: Vec<PlanNode>,
}

impl Builder {
    fn next_id(&self) -> NodeId {
        NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX))
    }

    /// Adds sibling stages in the order written; whether they run one after the other or
    /// side by side is their parent's body.
    fn siblings(
        &mut self,
        stages: &[Stage],
        parent: Option<NodeId>,
        path: &[String],
        agent: &str,
        axis: &[(String, String)],
    ) -> Vec<NodeId> {
        stages
            .iter()
            .map(|stage| self.stage(stage, parent, path, agent, axis))
            .collect()
    }

    fn stage(
        &mut self,
        stage: &Stage,
        parent: Option<NodeId>,
        path: &[String],
        inherited_agent: &str,
        axis: &[(String, String)],
    ) -> NodeId {
        let id = self.next_id();
        let mut my_path = path.to_vec();
        my_path.push(stage.name.value.clone());
        let effective_agent = stage
            .agent
            .as_ref()
            .map_or_else(|| inherited_agent.to_string(), describe_agent);
        let body = match &stage.body {
            StageBody::Steps(steps) => NodeBody::Steps(steps.clone()),
            StageBody::Sequential(_) => NodeBody::Sequential,
            StageBody::Parallel(_) => NodeBody::Parallel,
            StageBody::Matrix(_) => NodeBody::Matrix,
        };
        self.nodes.push(PlanNode {
            id,
            name: stage.name.value.clone(),
            path: my_path.clone(),
            parent,
            children: Vec::new(),
            body,
            agent: stage.agent.clone(),
            effective_agent: effective_agent.clone(),
            environment: stage.environment.clone(),
            axis_values: axis.to_vec(),
            options: stage.options.clone(),
            when: stage.when.clone(),
            input: stage.input.clone(),
            post: stage.post.clone(),
            fail_fast: stage.fail_fast,
            source_offset: stage.span.start,
        });
        let children = match &stage.body {
            StageBody::Steps(_) => Vec::new(),
            StageBody::Sequential(s) | StageBody::Parallel(s) => {
                self.siblings(s, Some(id), &my_path, &effective_agent, axis)
            }
            StageBody::Matrix(m) => self.matrix(m, id, &my_path, &effective_agent),
        };
        self.nodes[id.index()].children = children;
        id
    }

    fn matrix(
        &mut self,
        m: &Matrix,
        parent: NodeId,
        path: &[String],
        inherited_agent: &str,
    ) -> Vec<NodeId> {
        let agent = m
            .agent
            .as_ref()
            .map_or_else(|| inherited_agent.to_string(), describe_agent);
        let mut cells = Vec::new();
        for combo in cells_of(m) {
            let id = self.next_id();
            let name = cell_name(&combo);
            let mut my_path = path.to_vec();
            my_path.push(name.clone());
            self.nodes.push(PlanNode {
                id,
                name,
                path: my_path.clone(),
                parent: Some(parent),
                children: Vec::new(),
                body: NodeBody::Cell,
                agent: m.agent.clone(),
                effective_agent: agent.clone(),
                environment: m.environment.clone(),
                axis_values: combo.clone(),
                options: m.options.clone(),
                when: m.when.clone(),
                input: None,
                post: m.post.clone(),
                fail_fast: false,
                source_offset: m.span.start,
            });
            let children = self.siblings(&m.stages, Some(id), &my_path, &agent, &combo);
            self.nodes[id.index()].children = children;
            cells.push(id);
        }
        cells
    }
}

/// Every combination of axis values, the last axis varying fastest, minus the excluded ones.
pub(crate) fn cells_of(m: &Matrix) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in &m.axes {
        let mut next = Vec::with_capacity(combos.len() * axis.values.len());
        for combo in &combos {
            for v in &axis.values {
                let mut c = combo.clone();
                c.push((axis.name.value.clone(), v.value.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    combos.retain(|combo| {
        !m.excludes.iter().any(|ex| {
            !ex.axes.is_empty()
                && ex.axes.iter().all(|a| {
                    let value = combo
                        .iter()
                        .find(|(n, _)| *n == a.name.value)
                        .map(|(_, v)| v);
                    value.is_some_and(|v| a.values.contains(v) != a.negated)
                })
        })
    });
    combos
}

/// Jenkins' display name of a matrix cell: `Matrix - OS = 'linux', JDK = '17'`.
fn cell_name(combo: &[(String, String)]) -> String {
    let parts: Vec<String> = combo.iter().map(|(k, v)| format!("{k} = '{v}'")).collect();
    format!("Matrix - {}", parts.join(", "))
}

/// A short description of an agent: `any`, `label 'linux'`, `docker 'maven:3.9'`, ...
pub(crate) fn describe_agent(agent: &Agent) -> String {
    let lit = |e: &Expr| match e.as_plain_str() {
        Some(s) => format!("'{s}'"),
        None => "(expression)".to_string(),
    };
    match &agent.kind {
        AgentKind::Any => "any".into(),
        AgentKind::None => "none".into(),
        AgentKind::Label(l) => format!("label {}", lit(l)),
        AgentKind::Node { label, .. } => label
            .as_ref()
            .map_or("node".into(), |l| format!("node {}", lit(l))),
        AgentKind::Docker(d) => format!("docker {}", lit(&d.image)),
        AgentKind::Dockerfile(_) => "dockerfile".into(),
        AgentKind::Kubernetes(k) => match &k.inherit_from {
            Some(t) => format!("kubernetes (template {})", lit(t)),
            None => "kubernetes".into(),
        },
    }
}
