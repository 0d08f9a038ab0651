//! `kiln-fake-kube --port N --kubeconfig-out PATH`: runs a fake cluster until interrupted.

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
    /// Where to write a kubeconfig pointing at the server.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
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
    if let Some(path) = &args.kubeconfig_out {
        fake.write_kubeconfig(path)
            .context("writing the kubeconfig")?;
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
