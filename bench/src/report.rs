//! `docs/benchmarks.md`: the generated tables, followed by the hand-written analysis, which a
//! new run keeps.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use storefront_runner::HostCallCounts;

use crate::load::Stats;
use crate::options::{Host, Options};

/// What one scenario measured on one host.
pub struct Row {
    pub name: String,
    pub stats: Stats,
    pub background: Option<(&'static str, Stats)>,
    /// The serving process's peak RSS within the scenario (MiB).
    pub peak_rss: Option<f64>,
    /// Host calls during the scenario (runner only), and the requests they served.
    pub host_calls: Option<(HostCallCounts, usize)>,
}

/// What one host measured.
pub struct HostRun {
    pub host: Host,
    pub rows: Vec<Row>,
    pub cold_start: Duration,
    pub warm_start: Duration,
}

fn scenario_table(runs: &[HostRun]) -> String {
    let mut table = String::from("| Scenario |");
    let mut rule = String::from("|---|");
    for run in runs {
        let host = run.host.name();
        let _ = write!(
            table,
            " {host} req/s | {host} p50 ms | {host} p99 ms | {host} non-2xx / errors | {host} peak RSS MiB |"
        );
        rule.push_str("---:|---:|---:|---:|---:|");
    }
    let _ = writeln!(table, "\n{rule}");
    let scenarios = runs.first().map_or(0, |run| run.rows.len());
    for index in 0..scenarios {
        let _ = write!(table, "| {} |", runs[0].rows[index].name);
        for run in runs {
            let row = &run.rows[index];
            let peak = row
                .peak_rss
                .map_or_else(|| "n/a".into(), |mib| format!("{mib:.0}"));
            let stats = &row.stats;
            let _ = write!(
                table,
                " {:.0} | {:.2} | {:.2} | {} / {} | {peak} |",
                stats.per_second(),
                stats.p50_ms,
                stats.p99_ms,
                stats.non_2xx,
                stats.errors
            );
        }
        table.push('\n');
    }
    for run in runs {
        for row in &run.rows {
            if let Some((what, stats)) = &row.background {
                let _ = writeln!(
                    table,
                    "\n{}: beside \"{}\", the {what} sent {:.0} requests/s, {} of {} answered 429.",
                    run.host.name(),
                    row.name,
                    stats.per_second(),
                    stats.too_many,
                    stats.requests
                );
            }
        }
    }
    table
}

fn host_calls_table(run: &HostRun) -> Option<String> {
    if run.rows.iter().all(|row| row.host_calls.is_none()) {
        return None;
    }
    let mut table = String::from(
        "| Scenario | instances | SQLite opens | SQLite statements | key-value calls | variable reads | outbound requests |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in &run.rows {
        let Some((calls, requests)) = &row.host_calls else {
            continue;
        };
        let per = |count: u64| count as f64 / (*requests).max(1) as f64;
        let _ = writeln!(
            table,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.name,
            per(calls.instances),
            per(calls.sqlite_opens),
            per(calls.sqlite_statements),
            per(calls.key_value_calls),
            per(calls.variable_reads),
            per(calls.outbound_requests),
        );
    }
    Some(table)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!(
        "{cores} cores ({cpu}), {memory_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

fn command_output(program: &str, args: &[&str], dir: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The report, from the runs and the components' sizes.
pub fn render(options: &Options, runs: &[HostRun], spin_version: &str, wasm: &Path) -> String {
    let hosts = match options.hosts.as_slice() {
        [Host::Runner] => "runner",
        [Host::Spin] => "spin",
        _ => "both",
    };
    let revision = command_output("git", &["describe", "--always", "--dirty"], &options.app);
    let mut report = format!(
        "# Benchmarks\n\n<!-- Generated by `cargo bench-app`; everything above `## Analysis` is rewritten on each run. -->\n\n\
         Run {}. App: `{revision}`. Machine: {}.{spin_version} Load generator: this binary, sharing the cores \
         with the host, {} s per scenario on loopback keep-alive HTTP/1.1 connections. {} products and {} users \
         seeded into fresh state on each host; the hosts run one after the other. Rate limits are off except \
         in the scenarios that say they count (limits no scenario reaches: the cost of counting).\n\n\
         Command: `cargo bench-app --host {hosts} --seconds {} --connections {} --products {}`\n\n{}",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"], &options.app),
        machine(),
        options.seconds,
        options.products,
        crate::seed::BUYERS + 1,
        options.seconds,
        options.connections,
        options.products,
        scenario_table(runs),
    );
    for run in runs {
        if let Some(table) = host_calls_table(run) {
            let _ = write!(
                report,
                "\nHost calls per request on the {} (what each costs under Spin: every instance about \
                 0.3 ms of CPU, every SQLite open a new connection and schema load), counted by the \
                 runner over each scenario, work after the responses included:\n\n{table}",
                run.host.name()
            );
        }
    }
    let memory: String = runs
        .iter()
        .map(|run| {
            let highest = run
                .rows
                .iter()
                .filter_map(|row| row.peak_rss)
                .fold(0.0, f64::max);
            format!("{}: **{highest:.0} MiB**. ", run.host.name())
        })
        .collect();
    let _ = write!(
        report,
        "\nPeak RSS is the serving process's (the runner; Spin's `spin trigger http`) within each \
         scenario. The highest of those: {memory}\n\n\
         Start-up to the first 200 on `/health`:\n\n\
         | Host | cold (compiling every component) | restart with compiled cache |\n|---|---:|---:|\n"
    );
    for run in runs {
        let _ = writeln!(
            report,
            "| {} | {:.0} ms | {:.0} ms |",
            run.host.name(),
            run.cold_start.as_secs_f64() * 1000.0,
            run.warm_start.as_secs_f64() * 1000.0
        );
    }
    report.push_str("\n| Component | .wasm size (release) |\n|---|---:|\n");
    for (id, file) in crate::server::COMPONENTS {
        let bytes = std::fs::metadata(wasm.join(format!("{file}.wasm"))).map_or(0, |m| m.len());
        let _ = writeln!(report, "| {id} | {:.0} KiB |", bytes as f64 / 1024.0);
    }
    report
}

/// Writes `report` to `out`, keeping the analysis that follows the generated part.
pub fn write(out: &Path, report: &str) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let analysis = std::fs::read_to_string(out)
        .ok()
        .and_then(|old| old.find("\n## Analysis").map(|at| old[at..].to_string()))
        .unwrap_or_default();
    std::fs::write(out, format!("{report}{analysis}"))?;
    Ok(())
}
