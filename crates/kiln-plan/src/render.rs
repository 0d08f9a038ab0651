use crate::{NodeBody, NodeId, Plan};
use std::fmt::Write as _;

/// The plan as an indented tree, one stage per line:
///
/// ```text
/// pipeline (agent any)
/// ├── Build
/// ├── Test [parallel]
/// │   ├── Unit
/// │   └── Integration
/// └── Deploy [when]
/// ```
pub fn to_tree(plan: &Plan) -> String {
    let mut out = format!(
        "pipeline (agent {})\n",
        crate::build::describe_agent(&plan.pipeline.agent)
    );
    tree_level(plan, &plan.roots, "", &mut out);
    out
}

fn tree_level(plan: &Plan, ids: &[NodeId], prefix: &str, out: &mut String) {
    for (i, id) in ids.iter().enumerate() {
        let last = i + 1 == ids.len();
        let node = plan.node(*id);
        let mut tags = Vec::new();
        match &node.body {
            NodeBody::Steps(steps) => tags.push(format!(
                "{} step{}",
                steps.len(),
                if steps.len() == 1 { "" } else { "s" }
            )),
            NodeBody::Sequential => tags.push("stages".into()),
            NodeBody::Parallel => tags.push("parallel".into()),
            NodeBody::Matrix => tags.push(format!("matrix, {} cells", node.children.len())),
            NodeBody::Cell => {}
        }
        if node.agent.is_some() {
            tags.push(format!("agent {}", node.effective_agent));
        }
        if node.when.is_some() {
            tags.push("when".into());
        }
        if node.input.is_some() {
            tags.push("input".into());
        }
        if node.fail_fast {
            tags.push("failFast".into());
        }
        let _ = writeln!(
            out,
            "{prefix}{}{} [{}]",
            if last { "└── " } else { "├── " },
            node.name,
            tags.join(", ")
        );
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        tree_level(plan, &node.children, &child_prefix, out);
    }
}

/// The plan as a Graphviz digraph: one box per stage, solid edges for "runs after",
/// dashed edges from a stage to the stages it contains.
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n");
    for node in &plan.nodes {
        let style = match node.body {
            NodeBody::Steps(_) => "",
            _ => ", style=rounded",
        };
        let _ = writeln!(
            out,
            "  n{} [label=\"{}\"{style}];",
            node.id.0,
            escape(&node.name)
        );
    }
    for (from, to) in plan.runs_after() {
        let _ = writeln!(out, "  n{} -> n{};", from.0, to.0);
    }
    for node in &plan.nodes {
        for child in &node.children {
            let _ = writeln!(out, "  n{} -> n{} [style=dashed];", node.id.0, child.0);
        }
    }
    out.push_str("}\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The plan as JSON: nodes with ids, names, paths, kinds (which say how children run),
/// agents and children.
pub fn to_json(plan: &Plan) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = plan
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n.id.0,
                "name": n.name,
                "path": n.path,
                "kind": n.body.kind(),
                "parent": n.parent.map(|p| p.0),
                "children": n.children.iter().map(|c| c.0).collect::<Vec<_>>(),
                "agent": n.effective_agent,
                "environment": environment_names(plan, n.id),
                "axis_values": n.axis_values.iter().map(|(k, v)| serde_json::json!({"name": k, "value": v})).collect::<Vec<_>>(),
                "has_when": n.when.is_some(),
                "steps": match &n.body { NodeBody::Steps(s) => s.len(), _ => 0 },
                "fail_fast": n.fail_fast,
            })
        })
        .collect();
    serde_json::json!({
        "agent": crate::build::describe_agent(&plan.pipeline.agent),
        "roots": plan.roots.iter().map(|r| r.0).collect::<Vec<_>>(),
        "nodes": nodes,
    })
}

/// The environment variables a node sees, in the order they are set: the pipeline's, then each
/// enclosing stage's, then its own, then matrix axis values. Values are expressions evaluated
/// when the stage starts, so only names are planned.
fn environment_names(plan: &Plan, id: NodeId) -> Vec<String> {
    let mut chain = Vec::new();
    let mut cur = Some(id);
    while let Some(c) = cur {
        chain.push(c);
        cur = plan.node(c).parent;
    }
    let mut names: Vec<String> = plan
        .pipeline
        .environment
        .iter()
        .map(|e| e.name.value.clone())
        .collect();
    for c in chain.iter().rev() {
        names.extend(
            plan.node(*c)
                .environment
                .iter()
                .map(|e| e.name.value.clone()),
        );
    }
    names.extend(plan.node(id).axis_values.iter().map(|(k, _)| k.clone()));
    names
}
