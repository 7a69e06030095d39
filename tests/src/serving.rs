//! One app served by one host: the runner in this process, the runner as a process of its own
//! (which a test can kill), or `spin up`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use storefront_runner::{HostCallCounts, LoadOptions, ProvidedValues, RunningApp};

use crate::build::harness_target_dir;
use crate::spin::{self, SpinLaunch, SpinProcess};
use crate::storage::HostKind;

/// What one app is started with.
pub(crate) struct Launch<'a> {
    pub host: HostKind,
    pub manifest: &'a Path,
    pub sources: HashMap<String, PathBuf>,
    pub variables: HashMap<String, String>,
    pub state: &'a Path,
    pub runtime_config: PathBuf,
    /// The host's own files (a manifest copy, output).
    pub scratch: &'a Path,
    pub runner_binary: Option<&'a Path>,
    pub runner_request_timeout: Option<Duration>,
    pub runner_limits: Option<storefront_runner::ServerLimits>,
}

/// An app, served by one of the hosts.
pub(crate) enum Serving {
    Runner(RunningApp),
    /// The runner as a child process.
    RunnerProcess(RunnerProcess),
    Spin(SpinProcess),
}

/// The runner's binary serving the app; killed when dropped.
pub(crate) struct RunnerProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl RunnerProcess {
    fn start(binary: &Path, launch: &SpinLaunch) -> anyhow::Result<Self> {
        // Its output goes to a file: a pipe closed after the first line would make its later
        // prints fail.
        let stdout_path = launch.output_dir.join("runner.out");
        let mut command = Command::new(binary);
        command
            .arg("up")
            .arg("--from")
            .arg(&launch.manifest)
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&launch.state_dir)
            .arg("--runtime-config-file")
            .arg(&launch.runtime_config)
            .stdout(std::fs::File::create(&stdout_path)?)
            .stderr(std::fs::File::create(launch.output_dir.join("runner.err"))?);
        for (name, value) in &launch.variables {
            command.arg("--variable").arg(format!("{name}={value}"));
        }
        // Owned by `process` from here on, so every early return below kills it.
        let mut process = Self {
            child: command.spawn()?,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let output = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            if let Some(addr) = output
                .lines()
                .find_map(|line| line.strip_prefix("Serving http://"))
            {
                process.addr = addr.trim().parse()?;
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                anyhow::bail!("the runner exited ({status}) before serving");
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("the runner did not start serving in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    pub(crate) async fn start(launch: Launch<'_>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(launch.scratch)?;
        let spin_launch = || -> anyhow::Result<SpinLaunch> {
            Ok(SpinLaunch {
                manifest: spin::manifest_with_sources(
                    launch.manifest,
                    &launch.sources,
                    &launch.scratch.join("spin.toml"),
                )?,
                state_dir: launch.state.to_path_buf(),
                runtime_config: launch.runtime_config.clone(),
                variables: launch.variables.clone(),
                output_dir: launch.scratch.to_path_buf(),
                extra_args: Vec::new(),
            })
        };
        match (launch.host, launch.runner_binary) {
            (HostKind::Runner, Some(binary)) => Ok(Self::RunnerProcess(RunnerProcess::start(
                binary,
                &spin_launch()?,
            )?)),
            (HostKind::Runner, None) => {
                let load = LoadOptions {
                    manifest: launch.manifest.to_path_buf(),
                    state_dir: launch.state.to_path_buf(),
                    runtime_config: Some(launch.runtime_config.clone()),
                    cache_dir: Some(harness_target_dir().join("compiled-cache")),
                    variables: ProvidedValues {
                        explicit: launch.variables.clone(),
                        environment: HashMap::new(),
                    },
                    source_overrides: launch.sources.clone(),
                    request_timeout: launch.runner_request_timeout,
                };
                Ok(Self::Runner(
                    RunningApp::start_with_limits(
                        load,
                        ([127, 0, 0, 1], 0).into(),
                        launch.runner_limits.unwrap_or_default(),
                    )
                    .await?,
                ))
            }
            (HostKind::Spin, _) => Ok(Self::Spin(SpinProcess::start(&spin_launch()?).await?)),
        }
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        match self {
            Self::Runner(running) => running.addr(),
            Self::RunnerProcess(process) => process.addr,
            Self::Spin(process) => process.addr(),
        }
    }

    /// What the app asked of its host so far (the in-process runner counts it).
    pub(crate) fn host_calls(&self) -> Option<HostCallCounts> {
        match self {
            Self::Runner(running) => Some(running.app().host_calls()),
            _ => None,
        }
    }

    pub(crate) async fn stop(self) {
        match self {
            Self::Runner(running) => running.stop().await,
            Self::RunnerProcess(process) => drop(process),
            Self::Spin(process) => process.stop().await,
        }
    }

    /// SIGKILL: the host dies with whatever it was doing.
    pub(crate) fn kill(self) {
        match self {
            Self::Runner(_) => {
                panic!("the in-process runner cannot be killed; set AppOptions::runner_binary")
            }
            Self::RunnerProcess(process) => drop(process),
            Self::Spin(process) => process.kill(),
        }
    }
}
