use crate::harness::{run, run_with, setup};
use kiln_engine::BuildResult;

#[tokio::test]
async fn environment_precedence_and_interpolation() {
    let mut setup = setup();
    setup
        .spec
        .base_env
        .insert("FROM_BASE".to_owned(), "base".to_owned());
    setup
        .spec
        .base_env
        .insert("A".to_owned(), "from-base".to_owned());
    let run = run_with(
        r#"
pipeline {
    agent any
    parameters { string(name: 'GREETING', defaultValue: 'hi') }
    environment {
        A = 'pipeline'
        B = "${A}-x"
    }
    stages {
        stage('S') {
            environment {
                A = 'stage'
                C = "${A}-c"
            }
            steps {
                sh 'echo "A=$A B=$B C=$C base=$FROM_BASE greeting=$GREETING job=$JOB_NAME n=$BUILD_NUMBER stage=$STAGE_NAME"'
                withEnv(['A=with', 'PATH+EXTRA=/opt/extra']) {
                    sh 'echo "A=$A"; case "$PATH" in /opt/extra:*) echo extra-first;; esac'
                }
                sh 'echo "after A=$A"'
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(
        run.has_line(
            "A=stage B=pipeline-x C=stage-c base=base greeting=hi job=test-job n=7 stage=S"
        ),
        "{:#?}",
        run.log()
    );
    assert!(run.has_line("A=with"));
    assert!(run.has_line("extra-first"));
    assert!(run.has_line("after A=stage"));
}

#[tokio::test]
async fn workspace_variables_point_at_the_workspace() {
    let run = run("pipeline { agent any; stages { stage('S') { steps { sh 'test \"$WORKSPACE\" = \"$(pwd)\" && echo same' } } } }").await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("same"));
}

#[tokio::test]
async fn params_override_defaults_and_are_type_checked() {
    let mut ok = setup();
    ok.spec.params.insert("FLAG".to_owned(), "true".to_owned());
    let file = r#"
pipeline {
    agent any
    parameters {
        booleanParam(name: 'FLAG', defaultValue: false)
        choice(name: 'ENV', choices: ['dev', 'prod'])
    }
    stages { stage('S') { steps { sh 'echo "flag=$FLAG env=$ENV"' } } }
}"#;
    let run = run_with(file, ok).await;
    assert!(run.has_line("flag=true env=dev"), "{:#?}", run.log());

    let plan = crate::harness::plan_of(file);
    let bad = [("FLAG", "yes"), ("ENV", "staging")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let errors = kiln_engine::resolve_params(&plan.pipeline, &bad).expect_err("bad values");
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[tokio::test]
async fn expressions_go_through_the_script_layer() {
    let run = run(r#"
pipeline {
    agent any
    parameters { booleanParam(name: 'FLAG', defaultValue: true) }
    environment { NAME = 'kiln'; UPPER = "${NAME.toUpperCase()}" }
    stages {
        stage('Yes') {
            when { expression { return params.FLAG && env.NAME == 'kiln' } }
            steps { echo "sum=${1 + 2} upper=${UPPER} build=${currentBuild.number}"; sh "echo ${env.NAME}-shell" }
        }
        stage('No') { when { expression { params.FLAG == false } }; steps { echo 'never' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("sum=3 upper=KILN build=7"), "{:#?}", run.log());
    assert!(run.has_line("kiln-shell"));
    assert_eq!(run.stage("No"), kiln_engine::StageOutcome::SkippedByWhen);
}
