//! The app under real Spin: `spin up` in its own process group, on a free port, with the
//! harness's manifest, state directory, runtime config and variables.
//!
//! `spin up` forks `spin trigger http`, which is the process that serves, so the whole group
//! is signalled on stop. Readiness is Spin's own `/.well-known/spin/info`, answered by the
//! trigger once every component is loaded, naming the application version this launch wrote
//! into its manifest copy: the port is picked before Spin binds it, and another test's app may
//! take it meanwhile, so an answer from the port alone does not prove that this Spin serves.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a first start may take: Spin compiles every component before it listens, and
/// several test apps may be compiling at once on a cold cache.
const READY_WITHIN: Duration = Duration::from_secs(300);
/// How long a stopping Spin gets to finish in-flight requests before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The `spin` binary: `$SPIN_BIN`, else `spin` on the `PATH`.
pub fn spin_binary() -> PathBuf {
    std::env::var_os("SPIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("spin"))
}

/// What to start.
#[derive(Debug, Clone)]
pub struct SpinLaunch {
    pub manifest: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_config: PathBuf,
    /// Application variables, passed as `SPIN_VARIABLE_<NAME>`.
    pub variables: HashMap<String, String>,
    /// Where Spin's own stdout and stderr are written (`spin-<port>.out` / `.err`).
    pub output_dir: PathBuf,
    /// More `spin up` flags (e.g. `--disable-cache`).
    pub extra_args: Vec<String>,
}

/// A running `spin up`; killed (with its trigger process) when dropped.
#[derive(Debug)]
pub struct SpinProcess {
    child: Child,
    addr: SocketAddr,
    stderr_path: PathBuf,
    /// The application version of this launch's manifest, unique to it.
    version: String,
}

/// A port nobody listens on right now (Spin binds it a moment later; a lost race is retried).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl SpinProcess {
    /// Starts Spin and waits until it answers its health endpoint.
    pub async fn start(launch: &SpinLaunch) -> Result<Self> {
        let mut last_error = None;
        for _ in 0..3 {
            match Self::start_on(launch, free_port()?).await {
                Ok(process) => return Ok(process),
                Err(error) if format!("{error:#}").contains("Address already in use") => {
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free port")))
    }

    async fn start_on(launch: &SpinLaunch, port: u16) -> Result<Self> {
        std::fs::create_dir_all(&launch.output_dir)?;
        let version = tag_launch(&launch.manifest, port)?;
        let stdout_path = launch.output_dir.join(format!("spin-{port}.out"));
        let stderr_path = launch.output_dir.join(format!("spin-{port}.err"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(spin_binary());
        command
            .arg("up")
            .arg("--from")
            .arg(&launch.manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(&launch.state_dir)
            .arg("--runtime-config-file")
            .arg(&launch.runtime_config)
            .args(&launch.extra_args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path)?)
            .stderr(std::fs::File::create(&stderr_path)?)
            // Its own group, so stopping reaches the `spin trigger http` child as well.
            .process_group(0);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(name);
            }
        }
        for (name, value) in &launch.variables {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let child = command.spawn().with_context(|| {
            format!(
                "cannot run `{}` (set SPIN_BIN to the Spin CLI)",
                spin_binary().display()
            )
        })?;
        let mut process = Self {
            child,
            addr,
            stderr_path,
            version,
        };
        process.wait_until_ready().await?;
        Ok(process)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let info = format!("http://{}/.well-known/spin/info", self.addr);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "spin up exited ({status}) before serving:\n{}",
                    self.stderr()
                );
            }
            if let Ok(answer) = client.get(&info).send().await
                && answer.status().is_success()
                && let Ok(info) = answer.json::<serde_json::Value>().await
                && info["version"] == self.version.as_str()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "spin up did not answer within {READY_WITHIN:?}:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process that serves: `spin trigger http`, the child `spin up` forks (Linux).
    pub fn trigger_pid(&self) -> Option<u32> {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// What Spin wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM to the group, then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) {
        signal_group(self.child.id(), "-TERM");
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Drop kills whatever is left and reaps it.
    }

    /// SIGKILL to the whole group at once: a crash, for recovery tests.
    pub fn kill(mut self) {
        signal_group(self.child.id(), "-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        signal_group(self.child.id(), "-KILL");
        let _ = self.child.wait();
    }
}

/// Gives the manifest at `path` an application version no other launch has
/// (`<version>+launch.<pid>.<port>.<n>`) and returns it.
fn tag_launch(path: &Path, port: u16) -> Result<String> {
    static LAUNCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut document: toml::Table = toml::from_str(&text)?;
    let application = document
        .entry("application")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .context("[application] is not a table")?;
    let base = application
        .get("version")
        .and_then(toml::Value::as_str)
        .unwrap_or("0.0.0")
        .split('+')
        .next()
        .unwrap_or("0.0.0")
        .to_string();
    let launch = LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let version = format!("{base}+launch.{}.{port}.{launch}", std::process::id());
    application.insert("version".into(), toml::Value::String(version.clone()));
    std::fs::write(path, toml::to_string(&document)?)?;
    Ok(version)
}

/// The manifest Spin gets: `manifest` with every component's `source` made absolute (from
/// `sources` where given), written to `out`.
pub fn manifest_with_sources(
    manifest: &Path,
    sources: &HashMap<String, PathBuf>,
    out: &Path,
) -> Result<PathBuf> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let mut document: toml::Table = toml::from_str(&text)?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    if let Some(toml::Value::Table(components)) = document.get_mut("component") {
        for (id, component) in components.iter_mut() {
            let Some(component) = component.as_table_mut() else {
                continue;
            };
            let source = match (sources.get(id), component.get("source")) {
                (Some(path), _) => path.clone(),
                (None, Some(toml::Value::String(relative))) => base.join(relative),
                (None, _) => continue,
            };
            component.insert(
                "source".into(),
                toml::Value::String(source.display().to_string()),
            );
        }
    }
    std::fs::write(out, toml::to_string(&document)?)?;
    Ok(out.to_path_buf())
}
