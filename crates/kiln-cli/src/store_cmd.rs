//! `kiln store export FILE` and `kiln store import FILE`: a store to a file and back, through
//! the `Store` trait, so any store moves to any other (sled <-> PostgreSQL) byte for byte.

use crate::cli::{ServerArgs, StoreCommand, StoreFileArgs};
use anyhow::Context as _;
use std::io::{BufReader, BufWriter, Write as _};
use std::process::ExitCode;

pub fn store(command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Export(args) => export(&args),
        StoreCommand::Import(args) => import(&args),
    }
}

fn export(args: &StoreFileArgs) -> anyhow::Result<ExitCode> {
    let Some(config) = config(args) else {
        return Ok(ExitCode::from(1));
    };
    let sled_dir = config.server.data_dir.join("store");
    if config.store == kiln_config::StoreConfig::Sled && !sled_dir.is_dir() {
        anyhow::bail!("there is no store to export in {}", sled_dir.display());
    }
    let store = crate::store_open::open_store(&config)?;
    let file = std::fs::File::create(&args.file)
        .with_context(|| format!("cannot create {}", args.file.display()))?;
    let mut out = BufWriter::new(file);
    let counts = crate::store_dump::write(store.as_ref(), &mut out)?;
    out.flush()
        .and_then(|()| out.get_ref().sync_all())
        .with_context(|| format!("cannot write {}", args.file.display()))?;
    eprintln!(
        "kiln: exported {} jobs, {} builds and {} bytes of logs{} from {} to {}",
        counts.jobs,
        counts.builds,
        counts.log_bytes,
        shared_counts(&counts),
        crate::store_open::describe(&config),
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn import(args: &StoreFileArgs) -> anyhow::Result<ExitCode> {
    let Some(config) = config(args) else {
        return Ok(ExitCode::from(1));
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.server.data_dir.display()
        )
    })?;
    let store = crate::store_open::open_store(&config)?;
    let counts = crate::store_dump::read(store.as_ref(), &mut BufReader::new(file))
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    eprintln!(
        "kiln: imported {} jobs, {} builds and {} bytes of logs{} into {}",
        counts.jobs,
        counts.builds,
        counts.log_bytes,
        shared_counts(&counts),
        crate::store_open::describe(&config)
    );
    Ok(ExitCode::SUCCESS)
}

/// The files and controls of a shared store a dump holds, when it holds any.
fn shared_counts(counts: &crate::store_dump::Counts) -> String {
    if counts.files == 0 && counts.controls == 0 {
        return String::new();
    }
    format!(
        " (with {} files and {} controls kept in PostgreSQL)",
        counts.files, counts.controls
    )
}

/// The server's configuration as `kiln server` reads it, or `None` (rendered to stderr).
fn config(args: &StoreFileArgs) -> Option<kiln_config::Config> {
    let server = ServerArgs {
        config: args.config.clone(),
        listen: None,
        data_dir: args.data_dir.clone(),
    };
    match crate::server_cmd::read_config(&server) {
        Ok(config) => Some(config),
        Err(message) => {
            eprint!("{message}");
            None
        }
    }
}
