//! Starting the app on a host: the runner in a child process of this binary (so that its
//! memory is its own, and it answers host-call counts on stdin), or `spin up`.

use std::io::{BufRead, BufReader, Lines, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use storefront_runner::HostCallCounts;
pub use storefront_tests::COMPONENTS;
use storefront_tests::spin::{SpinLaunch, SpinProcess};
use tokio::io::AsyncBufReadExt;

use crate::load::{Connection, get};
use crate::options::Host;

const JWT_SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";
const SERVICE_TOKEN_SECRET: &str = "benchmark-service-secret-0123456789abcdef";
pub const ADMIN: &str = "admin@bench.local";
pub const ADMIN_BOOTSTRAP_TOKEN: &str = "benchmark-bootstrap-token-0123456789abcdef";
/// How long a start may take to answer `/health` with 200 (a cold start compiles every
/// component).
const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
/// A per-minute limit no scenario reaches: every request is counted, none refused.
const LIMIT_NOBODY_REACHES: &str = "1000000000";

/// How the app is configured for a group of scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// `rate_limit_per_minute = 0` and the per-user limit 0, as the targets are measured.
    Off,
    /// Both limits on, set where no scenario reaches them: what counting costs.
    Counting,
}

impl Limits {
    pub fn variables(self) -> Vec<(String, String)> {
        let limit = match self {
            Limits::Off => "0",
            Limits::Counting => LIMIT_NOBODY_REACHES,
        };
        [
            ("jwt_secret", JWT_SECRET),
            ("service_token_secret", SERVICE_TOKEN_SECRET),
            ("admin_emails", ADMIN),
            ("admin_bootstrap_token", ADMIN_BOOTSTRAP_TOKEN),
            ("rate_limit_per_minute", limit),
            ("rate_limit_per_user_per_minute", limit),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
    }

    fn arg(self) -> &'static str {
        match self {
            Limits::Off => "off",
            Limits::Counting => "counting",
        }
    }

    fn parse(text: &str) -> Result<Limits> {
        match text {
            "off" => Ok(Limits::Off),
            "counting" => Ok(Limits::Counting),
            other => bail!("limits are off or counting, not {other}"),
        }
    }
}

/// Builds `app`'s components in release into a target directory of their own and returns
/// where the `.wasm` files are.
pub fn build_components(app: &Path) -> Result<PathBuf> {
    storefront_tests::build_components(app, &app.join("target").join("bench"), &[])
        .map_err(anyhow::Error::msg)
}

/// Where a host's app runs: its manifest and built components, and a work directory for
/// state and caches.
pub struct Setup<'a> {
    pub manifest: &'a Path,
    pub wasm: &'a Path,
    pub work: &'a Path,
}

/// The app being measured; stopped when dropped.
pub enum Server {
    /// The runner, in a child process of this binary (`serve`).
    Runner {
        child: Child,
        addr: SocketAddr,
        control: Option<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
    },
    /// `spin up`, whose `spin trigger http` child serves.
    Spin(SpinProcess),
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Runner { child, control, .. } = self {
            // Closing its stdin is the child's signal to stop.
            drop(control.take());
            let _ = child.wait();
        }
    }
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Runner { addr, .. } => *addr,
            Server::Spin(process) => process.addr(),
        }
    }

    /// The process whose memory is the host's.
    pub fn serving_pid(&self) -> Option<u32> {
        match self {
            Server::Runner { child, .. } => Some(child.id()),
            Server::Spin(process) => process.trigger_pid(),
        }
    }

    /// The runner's host-call counts so far; Spin does not count them for us.
    pub fn host_calls(&mut self) -> Option<HostCallCounts> {
        let Server::Runner {
            control: Some((input, output)),
            ..
        } = self
        else {
            return None;
        };
        writeln!(input, "counts").ok()?;
        let line = output.next()?.ok()?;
        serde_json::from_str(&line).ok()
    }
}

/// Starts the app on `host` with fresh state `name` and waits for the first 200 from
/// `/health`; `cold` starts without any compiled-component cache (Spin is told not to use
/// its own; the runner's first start of a run finds its cache empty, and fills it).
pub async fn start(
    host: Host,
    setup: &Setup<'_>,
    limits: Limits,
    name: &str,
    cold: bool,
) -> Result<(Server, Duration)> {
    let state = setup.work.join(name);
    std::fs::create_dir_all(&state)?;
    let started = Instant::now();
    let server = match host {
        Host::Runner => {
            let cache = setup.work.join("cache");
            let mut child = Command::new(std::env::current_exe()?)
                .arg("serve")
                .args([setup.manifest, &state, &cache, setup.wasm])
                .arg(limits.arg())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let input = child.stdin.take().context("stdin")?;
            let mut output = BufReader::new(child.stdout.take().context("stdout")?).lines();
            let line = output.next().context("no output")??;
            let addr: SocketAddr = line
                .strip_prefix("Serving http://")
                .context("unexpected output")?
                .parse()?;
            Server::Runner {
                child,
                addr,
                control: Some((input, output)),
            }
        }
        Host::Spin => {
            let sources = COMPONENTS
                .iter()
                .map(|(id, file)| (id.to_string(), setup.wasm.join(format!("{file}.wasm"))))
                .collect();
            let manifest = storefront_tests::spin::manifest_with_sources(
                setup.manifest,
                &sources,
                &setup.work.join(format!("spin-{name}.toml")),
            )?;
            let storage = storefront_tests::Storage {
                one_database_file: false,
                redis: None,
            };
            let launch = SpinLaunch {
                manifest,
                runtime_config: storage.runtime_config(&state)?,
                state_dir: state.clone(),
                variables: limits.variables().into_iter().collect(),
                output_dir: state.join("spin-output"),
                extra_args: if cold {
                    vec!["--disable-cache".to_string()]
                } else {
                    Vec::new()
                },
            };
            Server::Spin(SpinProcess::start(&launch).await?)
        }
    };
    let mut connection = Connection::open(server.addr()).await?;
    loop {
        let (status, _) = connection.call(get("/health")).await?;
        if status == 200 {
            break;
        }
        if started.elapsed() > HEALTHY_WITHIN {
            bail!("the app answered /health with {status} for {HEALTHY_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((server, started.elapsed()))
}

/// The child process: the app in the runner, printing `Serving http://addr` once ready, then
/// a line of host-call counts (JSON) for each line on stdin, until stdin closes.
pub async fn serve_child(args: &[String]) -> Result<()> {
    let [manifest, state, cache, wasm_dir, limits] = args else {
        bail!("serve MANIFEST STATE_DIR CACHE_DIR WASM_DIR off|counting");
    };
    let mut variables = storefront_runner::ProvidedValues::default();
    variables
        .explicit
        .extend(Limits::parse(limits)?.variables());
    let options = storefront_runner::LoadOptions {
        manifest: manifest.into(),
        state_dir: state.into(),
        runtime_config: None,
        cache_dir: Some(cache.into()),
        variables,
        source_overrides: COMPONENTS
            .iter()
            .map(|(id, file)| {
                (
                    id.to_string(),
                    Path::new(wasm_dir).join(format!("{file}.wasm")),
                )
            })
            .collect(),
        request_timeout: None,
    };
    let running = storefront_runner::RunningApp::start(options, ([127, 0, 0, 1], 0).into()).await?;
    println!("Serving http://{}", running.addr());
    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = commands.next_line().await {
        println!("{}", serde_json::to_string(&running.app().host_calls())?);
    }
    running.stop().await;
    Ok(())
}

/// Starts a new peak-RSS window for `pid` (Linux resets VmHWM to the current RSS).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
