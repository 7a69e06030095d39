//! The `storefront-runner` command line: `up` serves a Spin app locally with the flags of
//! `spin up`, `build` runs every component's build command like `spin build`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{LoadOptions, ProvidedValues, RunningApp, ServerLimits};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Run a Spin app locally (a Spin-compatible subset, for development and tests)"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the app, like `spin up`.
    Up(UpArgs),
    /// Run every component's build command, like `spin build`.
    Build {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
    },
    /// Write one Spin app per component (`<out>/<component>.toml`), for platforms where the
    /// components cannot share an app.
    Split {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        #[arg(long, default_value = "deploy/split")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Runtime configuration (SQLite and key-value locations), as for `spin up`.
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
    /// Directory for databases, logs and the compiled-component cache.
    #[arg(long = "state-dir", default_value = ".spin")]
    state_dir: PathBuf,
    /// Run the components' build commands first.
    #[arg(long)]
    build: bool,
    /// Set a variable: `--variable name=value` (wins over SPIN_VARIABLE_<NAME>).
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Seconds an instance may run (its work after the response included) before it is
    /// stopped.
    #[arg(long = "request-timeout", default_value_t = crate::app::DEFAULT_REQUEST_TIMEOUT.as_secs())]
    request_timeout: u64,
    /// Development mode: secret variables without a value are generated once and kept in
    /// the state directory, and `environment` is `development`. Never for production.
    #[arg(long)]
    dev: bool,
    /// Seconds a whole request body may take to arrive.
    #[arg(long = "body-timeout", default_value_t = ServerLimits::default().body_timeout.as_secs())]
    body_timeout: u64,
    /// Connections open at once, from all clients.
    #[arg(long = "max-connections", default_value_t = ServerLimits::default().max_connections)]
    max_connections: usize,
    /// Connections open at once from one client address.
    #[arg(long = "max-connections-per-client", default_value_t = ServerLimits::default().max_connections_per_client)]
    max_connections_per_client: usize,
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| format!("`{text}` is not name=value"))
}

/// Runs the command line of this process.
pub async fn main() -> Result<()> {
    match Cli::parse().command {
        Commands::Build { from } => crate::buildcmd::build_all(&from),
        Commands::Split { from, out } => {
            for path in crate::split::write_split(&from, &out)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Commands::Up(args) => up(args).await,
    }
}

async fn up(args: UpArgs) -> Result<()> {
    if args.build {
        crate::buildcmd::build_all(&args.from)?;
    }
    let mut variables = ProvidedValues::from_process_env();
    variables.explicit.extend(args.variables);
    if args.dev {
        let dev = crate::dev_mode::apply(&args.from, &args.state_dir, &mut variables)?;
        eprintln!("{}", dev.banner());
    }
    let limits = ServerLimits {
        body_timeout: std::time::Duration::from_secs(args.body_timeout),
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
    };
    let options = LoadOptions {
        manifest: args.from,
        state_dir: args.state_dir,
        runtime_config: args.runtime_config_file,
        cache_dir: None,
        variables,
        source_overrides: Default::default(),
        request_timeout: Some(std::time::Duration::from_secs(args.request_timeout)),
    };
    let running = RunningApp::start_with_limits(options, args.listen, limits)
        .await
        .context("cannot start the app")?;
    println!("Serving http://{}", running.addr());
    println!("Available Routes:");
    for (route, component) in running.app().public_routes() {
        println!("  {component}: http://{}{route}", running.addr());
    }
    println!("Logs: component output is written to <state-dir>/logs/");
    shutdown_signal().await;
    println!("Shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
