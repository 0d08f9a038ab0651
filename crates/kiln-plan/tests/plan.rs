//! Plans of small pipelines, as trees (one `check` per case) and as JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on bad fixtures"
)]

use kiln_model::Document;

fn plan_of(src: &str) -> kiln_plan::Plan {
    let (doc, diags) = kiln_model::load(src);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "pipeline must be valid: {diags:#?}"
    );
    let Some(Document::Declarative(p)) = doc else {
        panic!("expected a declarative pipeline")
    };
    kiln_plan::plan(&p)
}

fn check(src: &str, expected: &str) {
    assert_eq!(kiln_plan::to_tree(&plan_of(src)), expected);
}

#[test]
fn sequential_parallel_and_nested_stages() {
    check(
        "pipeline { agent any; stages {
            stage('A') { steps { echo 'a' } }
            stage('B') { failFast true; parallel {
                stage('B1') { agent { label 'arm' }; steps { echo 'x'; echo 'y' } }
                stage('B2') { stages {
                    stage('B2a') { when { branch 'main' }; steps { echo 'z' } }
                } }
            } }
        } }",
        "pipeline (agent any)
├── A [1 step]
└── B [parallel, failFast]
    ├── B1 [2 steps, agent label 'arm']
    └── B2 [stages]
        └── B2a [1 step, when]
",
    );
}

#[test]
fn matrix_cells_expand_in_axis_order_minus_excludes() {
    check(
        "pipeline { agent none; stages { stage('M') { matrix {
            agent any
            axes {
                axis { name 'OS'; values 'linux', 'mac' }
                axis { name 'V'; values '1', '2' }
            }
            excludes { exclude {
                axis { name 'OS'; values 'mac' }
                axis { name 'V'; notValues '2' }
            } }
            stages { stage('T') { steps { echo 'x' } } }
        } } } }",
        "pipeline (agent none)
└── M [matrix, 3 cells]
    ├── Matrix - OS = 'linux', V = '1' [agent any]
    │   └── T [1 step]
    ├── Matrix - OS = 'linux', V = '2' [agent any]
    │   └── T [1 step]
    └── Matrix - OS = 'mac', V = '2' [agent any]
        └── T [1 step]
",
    );
}

/// The order the tree implies: siblings at the top, in `stages` and in matrix cells run one
/// after the other; parallel branches and matrix cells are not ordered.
#[test]
fn sequential_siblings_run_after_their_predecessor_and_branches_do_not() {
    let plan = plan_of(
        "pipeline { agent any; stages {
            stage('A') { steps { echo 'a' } }
            stage('B') { parallel {
                stage('B1') { steps { echo 'b1' } }
                stage('B2') { stages {
                    stage('B2a') { steps { echo 'x' } }
                    stage('B2b') { steps { echo 'y' } }
                } }
            } }
            stage('M') { matrix {
                axes { axis { name 'OS'; values 'linux', 'mac' } }
                stages {
                    stage('T1') { steps { echo 't1' } }
                    stage('T2') { steps { echo 't2' } }
                }
            } }
        } }",
    );
    let path = |id: kiln_plan::NodeId| plan.node(id).path.join("/");
    let order: Vec<String> = plan
        .runs_after()
        .into_iter()
        .map(|(a, b)| format!("{} -> {}", path(a), path(b)))
        .collect();
    assert_eq!(
        order,
        [
            "A -> B",
            "B -> M",
            "B/B2/B2a -> B/B2/B2b",
            "M/Matrix - OS = 'linux'/T1 -> M/Matrix - OS = 'linux'/T2",
            "M/Matrix - OS = 'mac'/T1 -> M/Matrix - OS = 'mac'/T2",
        ]
    );
}

#[test]
fn json_lists_environment_names_per_node() {
    let plan = plan_of(
        "pipeline { agent any; environment { A = '1' }; stages {
            stage('S') { environment { B = '2' }; stages {
                stage('T') { environment { C = '3' }; steps { echo 'x' } }
            } }
        } }",
    );
    let json = kiln_plan::to_json(&plan);
    let t = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "T")
        .unwrap();
    assert_eq!(t["environment"], serde_json::json!(["A", "B", "C"]));
    assert_eq!(t["path"], serde_json::json!(["S", "T"]));
}

#[test]
fn dot_output_has_sequence_and_containment_edges() {
    let plan = plan_of(
        "pipeline { agent any; stages {
            stage('A') { steps { echo 'a' } }
            stage('P') { parallel { stage('X') { steps { echo 'x' } } } }
        } }",
    );
    let dot = kiln_plan::to_dot(&plan);
    assert!(dot.contains("n0 -> n1;"), "{dot}");
    assert!(dot.contains("n1 -> n2 [style=dashed];"), "{dot}");
}
