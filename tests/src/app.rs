//! [`TestApp`]: the apps of one test (one, or one per component in the split topology), their
//! lifecycle (restart, crash, replicas) and their storage seen from outside.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use platform::Service;
use storefront_runner::HostCallCounts;
use tempfile::TempDir;

use crate::options::{AppOptions, Topology};
use crate::serving::{Launch, Serving};
use crate::storage::{HostKind, Storage};

/// One served app: the component it holds in the split topology (`None` for the whole app).
struct Served {
    component: Option<String>,
    url: String,
    serving: Serving,
}

/// The order split apps start in: each after the services it calls, so that it can be given
/// their URLs.
const START_ORDER: [Service; 5] = [
    Service::Notifications,
    Service::Users,
    Service::Products,
    Service::Orders,
    Service::Gateway,
];

/// A running app with its own state; stops when dropped.
pub struct TestApp {
    served: Vec<Served>,
    /// The public entry: the app, or the gateway's app in the split topology.
    pub base_url: String,
    pub client: reqwest::Client,
    /// SQLite files, key-value, logs and the runtime config; shared with replicas.
    pub state: Arc<TempDir>,
    /// The hosts' own files (manifest copies and output).
    scratch: Arc<TempDir>,
    options: AppOptions,
}

/// Starts the whole app with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the whole app with `options`, on free ports, with a fresh state directory.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    try_spawn(options, state)
        .await
        .unwrap_or_else(|e| panic!("app did not start: {e:#}"))
}

/// Starts the app on `state`, or says why it could not.
pub async fn try_spawn(
    options: AppOptions,
    state: impl Into<Arc<TempDir>>,
) -> anyhow::Result<TestApp> {
    let scratch = Arc::new(tempfile::tempdir()?);
    start_on(options, state.into(), scratch).await
}

fn launch<'a>(
    options: &'a AppOptions,
    manifest: &'a Path,
    state: &'a Path,
    scratch: &'a Path,
    variables: std::collections::HashMap<String, String>,
) -> anyhow::Result<Launch<'a>> {
    Ok(Launch {
        host: options.host,
        manifest,
        sources: options.sources(),
        variables,
        state,
        runtime_config: options.storage.runtime_config(state)?,
        scratch,
        runner_binary: options.runner_binary.as_deref(),
        runner_request_timeout: options.runner_request_timeout,
        runner_limits: options.runner_limits,
    })
}

/// The split topology: every component of `options.manifest` as an app of its own, each
/// started after the services it calls and given their URLs.
async fn start_split(
    options: &AppOptions,
    state: &Path,
    scratch: &Path,
) -> anyhow::Result<Vec<Served>> {
    let text = std::fs::read_to_string(&options.manifest)?;
    let manifest_dir = options.manifest.parent().unwrap_or(Path::new("."));
    let split_dir = scratch.join("split");
    std::fs::create_dir_all(&split_dir)?;
    let mut manifests = storefront_runner::split::split(&text, manifest_dir, &split_dir)?;
    let rank = |component: &str| {
        START_ORDER
            .iter()
            .position(|service| service.id() == component)
            .unwrap_or(START_ORDER.len())
    };
    manifests.sort_by_key(|manifest| rank(&manifest.component));
    let mut variables = options.variables.clone();
    let mut served = Vec::new();
    for manifest in manifests {
        let path = split_dir.join(&manifest.file_name);
        std::fs::write(&path, &manifest.text)?;
        let app_scratch = scratch.join(&manifest.component);
        let serving = Serving::start(launch(
            options,
            &path,
            state,
            &app_scratch,
            variables.clone(),
        )?)
        .await?;
        let url = format!("http://{}", serving.addr());
        // A URL the test chose (a service that is down, a stand-in) wins.
        if let Some(variable) =
            Service::from_id(&manifest.component).and_then(Service::url_variable)
        {
            variables
                .entry(variable.to_string())
                .or_insert_with(|| url.clone());
        }
        served.push(Served {
            component: Some(manifest.component),
            url,
            serving,
        });
    }
    Ok(served)
}

async fn start_on(
    options: AppOptions,
    state: Arc<TempDir>,
    scratch: Arc<TempDir>,
) -> anyhow::Result<TestApp> {
    let served = match options.topology {
        Topology::OneApp => {
            let app_scratch = scratch.path().join("app");
            let serving = Serving::start(launch(
                &options,
                &options.manifest,
                state.path(),
                &app_scratch,
                options.variables.clone(),
            )?)
            .await?;
            vec![Served {
                component: None,
                url: format!("http://{}", serving.addr()),
                serving,
            }]
        }
        Topology::Split => start_split(&options, state.path(), scratch.path()).await?,
    };
    let base_url = served
        .iter()
        .find(|app| matches!(app.component.as_deref(), None | Some("api-gateway")))
        .map(|app| app.url.clone())
        .ok_or_else(|| anyhow::anyhow!("no app serves the public entry"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(TestApp {
        served,
        base_url,
        client,
        state,
        scratch,
        options,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Which host serves this app.
    pub fn host(&self) -> HostKind {
        self.options.host
    }

    /// How this app is deployed.
    pub fn topology(&self) -> Topology {
        self.options.topology
    }

    /// Where this app's data lives.
    pub fn storage(&self) -> &Storage {
        &self.options.storage
    }

    /// The options this app was started with.
    pub fn options(&self) -> &AppOptions {
        &self.options
    }

    /// Where `service` answers: its own app in the split topology, the app otherwise.
    pub fn service_url(&self, service: Service) -> &str {
        self.served
            .iter()
            .find(|app| app.component.as_deref() == Some(service.id()))
            .map_or(&self.base_url, |app| &app.url)
    }

    /// The URL of an endpoint meant for other services (in the one-app layout, only with
    /// [`AppOptions::exposing_private_endpoints`]).
    pub fn private_url(&self, service: Service, path: &str) -> String {
        format!("{}{path}", self.service_url(service))
    }

    /// What the apps asked of their hosts so far; `None` where the host does not count
    /// (Spin, a runner process).
    pub fn host_calls(&self) -> Option<HostCallCounts> {
        let mut total = HostCallCounts::default();
        for app in &self.served {
            total = total.plus(&app.serving.host_calls()?);
        }
        Some(total)
    }

    /// Stops the app and starts it again on the same state directory.
    pub async fn restart(self) -> TestApp {
        let options = self.options.clone();
        self.restart_with(options).await
    }

    async fn stop_all(&mut self) {
        for app in self.served.drain(..).rev() {
            app.serving.stop().await;
        }
    }

    /// Stops the app and starts it with other options on the same state directory.
    pub async fn restart_with(mut self, options: AppOptions) -> TestApp {
        self.stop_all().await;
        start_on(options, self.state.clone(), self.scratch.clone())
            .await
            .unwrap_or_else(|e| panic!("restart failed: {e:#}"))
    }

    /// Kills the hosts hard (SIGKILL, mid-request) and starts them again on the same state.
    pub async fn crash_and_restart(mut self) -> TestApp {
        for app in self.served.drain(..) {
            app.serving.kill();
        }
        start_on(
            self.options.clone(),
            self.state.clone(),
            self.scratch.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("restart after the crash failed: {e:#}"))
    }

    /// A second instance of the app on its own ports, sharing this one's state (the same
    /// SQLite files and key-value store): two replicas behind a load balancer.
    pub async fn replica(&self) -> TestApp {
        let scratch = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")));
        start_on(self.options.clone(), self.state.clone(), scratch)
            .await
            .unwrap_or_else(|e| panic!("replica did not start: {e:#}"))
    }

    /// Runs `work` on this app's storage from outside the app, as an operator's tool would.
    ///
    /// It runs on the blocking pool, never on this test's runtime thread: the in-process
    /// runner serves on that thread, so a lock wait there would stall the very request that
    /// holds the lock (a transaction cannot reach its `COMMIT` while the thread that would run
    /// it waits for that commit).
    async fn with_storage_outside<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Storage, &Path) -> anyhow::Result<T> + Send + 'static,
    ) -> T {
        let storage = self.options.storage.clone();
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || work(&storage, state.path()))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .unwrap_or_else(|e| panic!("{what}: {e:#}"))
    }

    /// Runs one SQL statement on the database behind `label` from outside the app (waiting
    /// for the app's writers like any other connection); it must change exactly one row.
    pub async fn change_one_row(
        &self,
        label: &'static str,
        statement: impl Into<String>,
        parameters: Vec<rusqlite::types::Value>,
    ) {
        let statement = statement.into();
        let (changed, statement) = self
            .with_storage_outside("sql", move |storage, state| {
                let changed = storage.execute_sql(state, label, &statement, parameters)?;
                Ok((changed, statement))
            })
            .await;
        assert_eq!(changed, 1, "{label}: {statement}");
    }

    /// The single number that `query` (a `SELECT`) reads from the database behind `label`,
    /// from outside the app.
    pub async fn query_i64(&self, label: &'static str, query: impl Into<String>) -> i64 {
        let query = query.into();
        self.with_storage_outside("sql query", move |storage, state| {
            storage.query_i64(state, label, &query)
        })
        .await
    }

    /// What `query` reads from `label`'s database once it reads `expected` (work after a
    /// response finishes in its own time), or after five seconds of trying.
    pub async fn query_i64_until(
        &self,
        label: &'static str,
        query: &'static str,
        expected: i64,
    ) -> i64 {
        crate::poll_until(
            100,
            Duration::from_millis(50),
            || self.query_i64(label, query),
            |read| *read == expected,
        )
        .await
    }

    /// The SQLite file behind `label` for this app.
    pub fn database_path(&self, label: &str) -> PathBuf {
        self.options.storage.database_path(self.state.path(), label)
    }
}
