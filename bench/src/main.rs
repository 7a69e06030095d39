//! `storefront-bench`: builds the components in release, starts the whole app with fresh state
//! on each chosen host (the runner in a child process, so its memory is measured on its own,
//! and/or real Spin, `$SPIN_BIN` or `spin` on the `PATH`), seeds it, and drives each scenario
//! for a fixed time over keep-alive HTTP/1.1 connections on loopback. On the runner it also
//! counts the host calls each scenario's requests made (instances, SQLite opens and
//! statements, key-value calls), the quantities that decide a request's cost under Spin.
//! Prints one table with the hosts side by side and writes it to `docs/benchmarks.md`.
//!
//! `--app <checkout>` measures another revision's components and manifest (a `git worktree`)
//! with this runner and load, which is how a change is compared with its baseline.

mod load;
mod options;
mod report;
mod scenarios;
mod seed;
mod server;

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::options::{Host, Options};
use crate::report::{HostRun, Row};
use crate::scenarios::Scenario;
use crate::server::{Limits, Server, Setup};

// Each request instantiates components and allocates many short-lived objects across worker
// threads; with mimalloc instead of glibc's malloc, product-by-id throughput in the benchmark
// rose by about 6%.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return server::serve_child(&args[1..]).await;
    }
    run(options::parse(&args)?).await
}

fn selected(options: &Options, scenario: &Scenario) -> bool {
    options
        .only
        .as_deref()
        .is_none_or(|only| scenario.name.contains(only))
}

/// Runs the selected scenarios of one configuration on a running app.
async fn run_scenarios(
    server: &mut Server,
    options: &Options,
    limits: Limits,
    host: Host,
) -> Result<Vec<Row>> {
    eprintln!("[{}] seeding {} products", host.name(), options.products);
    let seeded = seed::seed(server.addr(), options.products).await?;
    let pid = server.serving_pid().context("no serving process")?;
    let duration = Duration::from_secs(options.seconds);
    let mut rows = Vec::new();
    let scenarios = scenarios::all(options.connections, &seeded)
        .into_iter()
        .filter(|scenario| scenario.limits == limits && selected(options, scenario));
    for scenario in scenarios {
        eprintln!(
            "[{}] running {} for {}s",
            host.name(),
            scenario.name,
            options.seconds
        );
        let windowed = server::reset_peak_rss(pid);
        let before = server.host_calls();
        let (stats, background) = load::run(
            server.addr(),
            duration,
            &scenario.load,
            scenario.background.as_ref().map(|(_, load)| load),
        )
        .await;
        let requests = stats.requests + background.as_ref().map_or(0, |stats| stats.requests);
        let host_calls = before
            .zip(server.host_calls())
            .map(|(before, after)| (after.since(&before), requests));
        rows.push(Row {
            name: scenario.name,
            stats,
            background: scenario.background.map(|(what, _)| what).zip(background),
            peak_rss: server::peak_rss_mib(pid).filter(|_| windowed),
            host_calls,
        });
    }
    Ok(rows)
}

/// Starts the app on `host` (cold, then warm on fresh state) and runs every selected scenario,
/// each configuration of the app on fresh state of its own.
async fn run_host(host: Host, setup: &Setup<'_>, options: &Options) -> Result<HostRun> {
    let prefix = host.name().to_ascii_lowercase();
    let (cold, cold_start) =
        server::start(host, setup, Limits::Off, &format!("{prefix}-cold"), true).await?;
    drop(cold);
    if host == Host::Spin {
        // Spin's cold start used no cache, so one start fills it before the measured restart
        // (the runner's cold start filled its cache already).
        drop(server::start(host, setup, Limits::Off, &format!("{prefix}-fill"), false).await?);
    }
    let (mut server, warm_start) =
        server::start(host, setup, Limits::Off, &format!("{prefix}-off"), false).await?;
    let mut rows = run_scenarios(&mut server, options, Limits::Off, host).await?;
    drop(server);
    let names_only = seed::Seeded {
        product_ids: vec![String::new()],
        buyer_token: String::new(),
    };
    let counting = scenarios::all(options.connections, &names_only)
        .iter()
        .any(|scenario| scenario.limits == Limits::Counting && selected(options, scenario));
    if counting {
        let (mut server, _) = server::start(
            host,
            setup,
            Limits::Counting,
            &format!("{prefix}-counting"),
            false,
        )
        .await?;
        rows.extend(run_scenarios(&mut server, options, Limits::Counting, host).await?);
    }
    Ok(HostRun {
        host,
        rows,
        cold_start,
        warm_start,
    })
}

async fn run(options: Options) -> Result<()> {
    // Asked before any scenario runs, so a missing Spin fails the run at once rather than
    // after the runner's half of it.
    let spin_version = if options.hosts.contains(&Host::Spin) {
        let binary = storefront_tests::spin::spin_binary();
        let out = Command::new(&binary)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "cannot run `{}` (set SPIN_BIN to the Spin CLI)",
                    binary.display()
                )
            })?;
        format!(" Spin: `{}`.", String::from_utf8_lossy(&out.stdout).trim())
    } else {
        String::new()
    };
    let wasm = server::build_components(&options.app)?;
    let work = tempfile::tempdir()?;
    let manifest = options.app.join("spin.toml");
    let setup = Setup {
        manifest: &manifest,
        wasm: &wasm,
        work: work.path(),
    };
    let mut runs = Vec::new();
    for host in &options.hosts {
        runs.push(run_host(*host, &setup, &options).await?);
    }
    let report = report::render(&options, &runs, &spin_version, &wasm);
    println!("{report}");
    report::write(&options.out, &report)?;
    eprintln!("written to {}", options.out.display());
    Ok(())
}
