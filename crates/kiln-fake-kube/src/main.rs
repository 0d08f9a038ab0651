//! `kiln-fake-kube --port N --kubeconfig-out PATH`: runs a fake cluster until interrupted.
//! The kubeconfig written acts as deploy/'s `kiln` service account under deploy/'s RBAC (what
//! kiln gets in a cluster); `--admin-kubeconfig-out` writes the administrator's.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kiln_fake_kube::{FakeKube, FakeKubeConfig, ImageConfig, Isolation, NodeConfig};

/// A fake Kubernetes API server and kubelet for kiln's tests.
#[derive(Parser)]
#[command(name = "kiln-fake-kube", version)]
struct Args {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write a kubeconfig acting as deploy/'s `kiln` service account in namespace
    /// `default`, with deploy/'s Role and ClusterRole (RBAC turns on).
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Where to write the administrator's kubeconfig (every right), for tests that set the
    /// cluster up.
    #[arg(long)]
    admin_kubeconfig_out: Option<PathBuf>,
    /// Grants kiln's account more than deploy/'s Role in `default`: `RESOURCE=VERB,VERB`
    /// (`pods/portforward=create` for kiln outside the cluster); repeatable.
    #[arg(long = "grant-kiln", value_name = "RESOURCE=VERBS")]
    grants: Vec<String>,
    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// Allocatable cpu per node.
    #[arg(long, default_value = "4")]
    node_cpu: String,
    /// Allocatable memory per node.
    #[arg(long, default_value = "8Gi")]
    node_memory: String,
    /// Run containers directly on the host instead of in mount namespaces.
    #[arg(long)]
    no_isolation: bool,
    /// An image of the registry with its ENTRYPOINT (`NAME=WORD WORD...`, no CMD); repeatable.
    #[arg(long = "image", value_name = "NAME=ENTRYPOINT")]
    images: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let grants = args
        .grants
        .iter()
        .map(|grant| parse_grant(grant))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut images = FakeKubeConfig::default().images;
    for image in &args.images {
        let Some((name, entrypoint)) = image.split_once('=') else {
            anyhow::bail!("--image wants NAME=ENTRYPOINT, not `{image}`");
        };
        let config = ImageConfig {
            entrypoint: entrypoint.split_whitespace().map(str::to_owned).collect(),
            cmd: Vec::new(),
        };
        images.insert(name.to_owned(), config);
    }
    let config = FakeKubeConfig {
        images,
        nodes: (1..=args.nodes)
            .map(|i| {
                NodeConfig::new(format!("fake-node-{i}"))
                    .capacity(&args.node_cpu, &args.node_memory)
            })
            .collect(),
        isolation: if args.no_isolation {
            Isolation::None
        } else {
            Isolation::MountNamespace
        },
        ..FakeKubeConfig::default()
    };
    let fake = FakeKube::start(config, args.port)
        .await
        .context("starting the fake cluster")?;
    // The admin's first: a caller waiting for `--kubeconfig-out` finds both written.
    if let Some(path) = &args.admin_kubeconfig_out {
        fake.write_kubeconfig(path)
            .with_context(|| format!("writing the admin kubeconfig {}", path.display()))?;
    }
    if args.kubeconfig_out.is_some() || !grants.is_empty() {
        let yaml = fake
            .kiln_identity(KILN_NAMESPACE)
            .context("installing deploy/'s kiln service account")?;
        for (resource, verbs) in &grants {
            let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
            fake.grant_kiln(KILN_NAMESPACE, resource, &verbs)
                .with_context(|| format!("granting kiln {resource}"))?;
        }
        if let Some(path) = &args.kubeconfig_out {
            write_atomically(path, &yaml)
                .with_context(|| format!("writing the kubeconfig {}", path.display()))?;
        }
    }
    println!("{}", fake.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for ctrl-c")?,
        _ = term.recv() => {}
    }
    fake.shutdown().await;
    Ok(())
}

/// The namespace kiln's account is installed in (the kubeconfigs' namespace).
const KILN_NAMESPACE: &str = "default";

/// `RESOURCE=VERB,VERB` as the resource and its verbs.
fn parse_grant(grant: &str) -> anyhow::Result<(String, Vec<String>)> {
    let (resource, verbs) = grant
        .split_once('=')
        .filter(|(resource, verbs)| !resource.is_empty() && !verbs.is_empty())
        .with_context(|| {
            format!("--grant-kiln wants RESOURCE=VERB[,VERB...] (pods/portforward=create), not `{grant}`")
        })?;
    let verbs = verbs.split(',').map(|v| v.trim().to_owned()).collect();
    Ok((resource.to_owned(), verbs))
}

/// Writes `text` to a temporary file beside `path`, then renames it: whoever waits for `path`
/// reads it whole.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}
