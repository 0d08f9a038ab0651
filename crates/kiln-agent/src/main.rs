//! `kiln-agent`: see the library's documentation.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Serving the controller, the agent is its container's init: see `kiln_agent::init`.
    let install = args.first().is_some_and(|a| a == "--install");
    if args
        .last()
        .is_some_and(|a| a == kiln_agent::init::UNDER_INIT)
    {
        args.pop();
        kiln_agent::init::under_init();
    } else if !install {
        return kiln_agent::init::run(&args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kiln-agent: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(kiln_agent::main_with_args(&args));
    // Pump tasks dropped here kill their process groups (the runner's kill guards).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kiln-agent: {error}");
            ExitCode::from(2)
        }
    }
}
