use crate::harness::{Creds, run_with, setup};
use kiln_engine::{BuildResult, Credential};
use std::collections::BTreeMap;
use std::sync::Arc;

fn with_creds() -> crate::harness::Setup {
    let mut setup = setup();
    let creds = BTreeMap::from([
        (
            "token".to_owned(),
            Credential::Secret("s3cr3t-token".to_owned()),
        ),
        (
            "login".to_owned(),
            Credential::UsernamePassword {
                username: "deployer".to_owned(),
                password: "hunter2-pw".to_owned(),
            },
        ),
        (
            "kubeconfig".to_owned(),
            Credential::File {
                name: "config".to_owned(),
                content: b"file-secret-content".to_vec(),
            },
        ),
    ]);
    setup.spec.credentials = Arc::new(Creds(creds));
    setup
}

#[tokio::test]
async fn credentials_are_bound_and_masked() {
    let run = run_with(
        r#"
pipeline {
    agent any
    environment { TOKEN = credentials('token'); LOGIN = credentials('login') }
    stages {
        stage('S') {
            steps {
                sh 'echo "token=$TOKEN user=$LOGIN_USR pw=$LOGIN_PSW both=$LOGIN"'
                withCredentials([usernamePassword(credentialsId: 'login', usernameVariable: 'U', passwordVariable: 'P'),
                                 file(credentialsId: 'kubeconfig', variable: 'KCFG')]) {
                    sh 'echo "u=$U p=$P"; cat "$KCFG"; echo; echo "$KCFG" > kcfg-path'
                }
            }
        }
    }
}"#,
        with_creds(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    let log = run.log().join("\n");
    for secret in ["s3cr3t-token", "hunter2-pw", "file-secret-content"] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
    assert!(
        run.has_line("token=**** user=deployer pw=**** both=deployer:****"),
        "{log}"
    );
    assert!(run.has_line("u=deployer p=****"));
    // The file has no line break: the shell's `+ echo` trace (stderr, the same pipe)
    // follows it on its line, as the process wrote them.
    assert!(
        run.has_line("****+ echo"),
        "the secret file's content is masked:\n{log}"
    );
    let path = std::fs::read_to_string(run.workspace().join("kcfg-path")).expect("path written");
    assert!(
        !std::path::Path::new(path.trim()).exists(),
        "secret files are removed after the block"
    );
}

#[tokio::test]
async fn missing_credentials_fail_the_stage() {
    let run = run_with(
        "pipeline { agent any; stages { stage('S') { environment { X = credentials('nope') }; steps { echo 'never' } } } }",
        with_creds(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert!(
        run.has_line("ERROR: could not find credentials entry with ID 'nope'"),
        "{:#?}",
        run.log()
    );
}

/// Guards issue 11: an SSH private key printed by a step was stored and shown whole.
#[tokio::test]
async fn every_line_of_a_multi_line_secret_is_masked() {
    let key_lines: Vec<String> = (0..40)
        .map(|i| {
            format!("{i:02}b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW")
        })
        .collect();
    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        key_lines.join("\n")
    );
    let mut setup = setup();
    let creds = BTreeMap::from([(
        "deploy-key".to_owned(),
        Credential::SshKey {
            username: "git".to_owned(),
            private_key: key.clone(),
            passphrase: None,
        },
    )]);
    setup.spec.credentials = Arc::new(Creds(creds));
    // `dd` with a small block size writes the key in many pieces, cutting its lines.
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('S') {
            steps {
                withCredentials([sshUserPrivateKey(credentialsId: 'deploy-key', keyFileVariable: 'KEY')]) {
                    sh 'dd if="$KEY" bs=7 2>/dev/null; echo "tail $(tail -n 2 "$KEY" | head -n 1)"'
                }
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    let log = run.log().join("\n");
    for line in key.lines() {
        assert!(!log.contains(line), "`{line}` leaked:\n{log}");
    }
    assert!(run.has_line("tail ****"), "{log}");
}
