//! The integration-test harness: builds the components once per test run, starts the whole app
//! from `spin.toml` on a free port with a fresh state directory, and calls it over real HTTP.
//!
//! The same tests run under two hosts, chosen by `STOREFRONT_E2E_HOST`: `runner` (the
//! default, the project's runner in this process) or `spin` (the real Spin CLI, `$SPIN_BIN`
//! or `spin` on the `PATH`, as a child process). Storage follows `STOREFRONT_E2E_SQLITE`
//! (`per-label`, the default, or `one-file`: every SQLite label in one database file) and
//! `STOREFRONT_E2E_REDIS_URL` (key-value on that Redis server instead of a file). Both hosts
//! get the same generated runtime config with absolute paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use storefront_runner::{LoadOptions, ProvidedValues, RunningApp};
use tempfile::TempDir;

pub mod fake;
pub mod spin;
pub mod storage;

pub use storage::{HostKind, Storage};

/// The components of `spin.toml` and their crate names.
pub const COMPONENTS: [(&str, &str); 5] = [
    ("api-gateway", "api_gateway"),
    ("user-service", "user_service"),
    ("product-service", "product_service"),
    ("order-service", "order_service"),
    ("notification-service", "notification_service"),
];

/// The probe component's `.wasm` (it traps on `.../trap`), for runner tests.
pub fn probe_component() -> PathBuf {
    built_components().join("runner_probe.wasm")
}

/// A secret long enough for the auth crate; tests only.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
/// The service-to-service secret of test apps; tests only.
pub const TEST_SERVICE_TOKEN_SECRET: &str = "integration-service-secret-0123456789abcdef";

/// A service token from `caller` to `target`, as the app's own services sign their calls
/// (for tests that call a private endpoint directly).
pub fn service_token(caller: &str, target: &str) -> String {
    let keys = auth::ServiceKeys::from_secret(TEST_SERVICE_TOKEN_SECRET)
        .unwrap_or_else(|e| panic!("service secret: {e}"));
    keys.issue(caller, target)
        .unwrap_or_else(|e| panic!("service token: {e}"))
}

/// A complete, valid shipping address for orders.
pub fn shipping_address() -> Value {
    serde_json::json!({"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US", "line2": "Apt 4"})
}

/// Held by the tests that load a host to its limits (a burst over the instance budget,
/// runaway instances, stalled clients) so that they run one at a time: the in-process runner's
/// admission slots and instance pool are shared by every test in this binary, and one such test
/// would skew another's timing.
pub async fn exclusive_heavy_load() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Waits, if needed, until at least 10 s remain in the gateway's current one-minute
/// rate-limit window (wall clock, as the gateway counts), so that a test counting a few
/// requests against a limit does not see the counters reset halfway.
pub async fn with_time_left_in_rate_limit_window() {
    const WINDOW: Duration = Duration::from_secs(60);
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into_window = Duration::from_millis(
        u64::try_from(since_epoch.as_millis() % WINDOW.as_millis()).unwrap_or(0),
    );
    let left = WINDOW - into_window;
    if left < Duration::from_secs(10) {
        tokio::time::sleep(left + Duration::from_millis(200)).await;
    }
}
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where the harness builds components: its own target directory, because the `cargo test`
/// that runs us holds the lock on the workspace one.
fn harness_target_dir() -> PathBuf {
    workspace_root().join("target").join("harness")
}

/// Builds every component once per test process and returns the directory of the `.wasm`s.
pub fn built_components() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .current_dir(workspace_root())
            .env("CARGO_TARGET_DIR", harness_target_dir())
            .args(["build", "--release", "--target", "wasm32-wasip2"]);
        for (id, _) in COMPONENTS {
            command.args(["-p", id]);
        }
        // The runner's fault-handling probe (never part of the app).
        command.args(["-p", "runner-probe"]);
        let status = command
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building the components failed: {status}"));
        }
        Ok(harness_target_dir().join("wasm32-wasip2").join("release"))
    });
    match built {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    }
}

/// Options for one app under test.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest: PathBuf,
    pub variables: HashMap<String, String>,
    pub source_overrides: HashMap<String, PathBuf>,
    /// The host to run on: the environment's choice unless a test needs one in particular.
    pub host: HostKind,
    /// Where the data lives: the environment's choice unless a test needs one in particular.
    pub storage: Storage,
    /// On the runner: run it as this binary (a process of its own, which a test can kill)
    /// rather than inside the test process. Integration tests pass
    /// `env!("CARGO_BIN_EXE_app-runner")`.
    pub runner_binary: Option<PathBuf>,
    /// On the in-process runner: how long an instance may run (its default otherwise).
    pub runner_request_timeout: Option<Duration>,
    /// Keeps the folder of an edited manifest for as long as the options live.
    pub manifest_dir: Option<Arc<TempDir>>,
}

impl Default for AppOptions {
    fn default() -> Self {
        let variables = HashMap::from([
            ("jwt_secret".to_string(), TEST_JWT_SECRET.to_string()),
            (
                "service_token_secret".to_string(),
                TEST_SERVICE_TOKEN_SECRET.to_string(),
            ),
            ("admin_emails".to_string(), "admin@example.com".to_string()),
        ]);
        Self {
            manifest: workspace_root().join("spin.toml"),
            variables,
            source_overrides: HashMap::new(),
            host: HostKind::from_env(),
            storage: Storage::from_env(),
            runner_binary: None,
            runner_request_timeout: None,
            manifest_dir: None,
        }
    }
}

impl AppOptions {
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_string(), value.to_string());
        self
    }

    pub fn without_variable(mut self, name: &str) -> Self {
        self.variables.remove(name);
        self
    }

    /// These options with their manifest changed by `edit` (see [`manifest_variant`]);
    /// edits compose, each applied to the manifest the previous one wrote.
    pub fn with_manifest(mut self, edit: impl Fn(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        self.manifest = edited_manifest(&self.manifest, &dir, edit);
        self.manifest_dir = Some(Arc::new(dir));
        self
    }

    /// These options with the test probe (`tests/components/probe`) as component `probe`,
    /// triggered by `route` (`"/probe/..."`, or `{ private = true }` for service chaining).
    pub fn with_probe(mut self, route: &str) -> Self {
        let route = route.to_string();
        self = self.with_manifest(move |text| {
            format!(
                "{text}\n[[trigger.http]]\nroute = {route}\ncomponent = \"probe\"\n\n\
                 [component.probe]\nsource = \"probe.wasm\"\n"
            )
        });
        self.source_overrides
            .insert("probe".into(), probe_component());
        self
    }

    /// The same options on the project's runner, whatever the environment chose (for tests
    /// of the runner's own behaviour).
    pub fn on_runner(mut self) -> Self {
        self.host = HostKind::Runner;
        self
    }

    /// Every component's `.wasm`: the harness's build, or an override.
    fn sources(&self) -> HashMap<String, PathBuf> {
        let components = built_components();
        let mut sources: HashMap<String, PathBuf> = COMPONENTS
            .iter()
            .map(|(id, file)| (id.to_string(), components.join(format!("{file}.wasm"))))
            .collect();
        sources.extend(self.source_overrides.clone());
        sources
    }
}

/// The app, served by one of the two hosts.
enum Serving {
    Runner(RunningApp),
    /// The runner as a child process.
    RunnerProcess(RunnerProcess),
    Spin(spin::SpinProcess),
}

/// The runner's binary serving the app; killed when dropped.
struct RunnerProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl RunnerProcess {
    fn start(binary: &Path, launch: &spin::SpinLaunch) -> anyhow::Result<Self> {
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
    async fn start(options: &AppOptions, state: &Path, scratch: &Path) -> anyhow::Result<Self> {
        let runtime_config = options.storage.runtime_config(state)?;
        match (options.host, &options.runner_binary) {
            (HostKind::Runner, Some(binary)) => {
                let launch = spin::SpinLaunch {
                    manifest: spin::manifest_with_sources(
                        &options.manifest,
                        &options.sources(),
                        &scratch.join("spin.toml"),
                    )?,
                    state_dir: state.to_path_buf(),
                    runtime_config,
                    variables: options.variables.clone(),
                    output_dir: scratch.to_path_buf(),
                    extra_args: Vec::new(),
                };
                Ok(Self::RunnerProcess(RunnerProcess::start(binary, &launch)?))
            }
            (HostKind::Runner, None) => {
                let load = LoadOptions {
                    manifest: options.manifest.clone(),
                    state_dir: state.to_path_buf(),
                    runtime_config: Some(runtime_config),
                    cache_dir: Some(harness_target_dir().join("compiled-cache")),
                    variables: ProvidedValues {
                        explicit: options.variables.clone(),
                        environment: HashMap::new(),
                    },
                    source_overrides: options.sources(),
                    request_timeout: options.runner_request_timeout,
                };
                let running = RunningApp::start(load, ([127, 0, 0, 1], 0).into()).await?;
                Ok(Self::Runner(running))
            }
            (HostKind::Spin, _) => {
                let manifest = spin::manifest_with_sources(
                    &options.manifest,
                    &options.sources(),
                    &scratch.join("spin.toml"),
                )?;
                let launch = spin::SpinLaunch {
                    manifest,
                    state_dir: state.to_path_buf(),
                    runtime_config,
                    variables: options.variables.clone(),
                    output_dir: scratch.to_path_buf(),
                    extra_args: Vec::new(),
                };
                Ok(Self::Spin(spin::SpinProcess::start(&launch).await?))
            }
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Self::Runner(running) => running.addr(),
            Self::RunnerProcess(process) => process.addr,
            Self::Spin(process) => process.addr(),
        }
    }

    async fn stop(self) {
        match self {
            Self::Runner(running) => running.stop().await,
            Self::RunnerProcess(process) => drop(process),
            Self::Spin(process) => process.stop().await,
        }
    }

    /// SIGKILL: the host dies with whatever it was doing.
    fn kill(self) {
        match self {
            Self::Runner(_) => {
                panic!("the in-process runner cannot be killed; set AppOptions::runner_binary")
            }
            Self::RunnerProcess(process) => drop(process),
            Self::Spin(process) => process.kill(),
        }
    }
}

/// A running app with its own state; stops when dropped.
pub struct TestApp {
    serving: Option<Serving>,
    pub base_url: String,
    pub client: reqwest::Client,
    /// SQLite files, key-value, logs and the runtime config; shared with replicas.
    pub state: Arc<TempDir>,
    /// The host's own files (Spin's manifest copy and output).
    scratch: Arc<TempDir>,
    options: AppOptions,
}

/// Starts the whole app with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the whole app with `options`, on a free port, with a fresh state directory.
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

async fn start_on(
    options: AppOptions,
    state: Arc<TempDir>,
    scratch: Arc<TempDir>,
) -> anyhow::Result<TestApp> {
    let serving = Serving::start(&options, state.path(), scratch.path()).await?;
    let base_url = format!("http://{}", serving.addr());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(TestApp {
        serving: Some(serving),
        base_url,
        client,
        state,
        scratch,
        options,
    })
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Which host serves this app.
    pub fn host(&self) -> HostKind {
        self.options.host
    }

    /// Where this app's data lives.
    pub fn storage(&self) -> &Storage {
        &self.options.storage
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

    /// Every key in the app's key-value store.
    pub async fn key_value_keys(&self) -> Vec<String> {
        self.with_storage_outside("key-value keys", |storage, state| {
            storage.key_value_keys(state)
        })
        .await
    }

    /// Writes a key into the app's key-value store from outside.
    pub async fn key_value_set(&self, key: &str, value: &str) {
        let (key, value) = (key.to_string(), value.to_string());
        self.with_storage_outside("key-value set", move |storage, state| {
            storage.key_value_set(state, &key, &value)
        })
        .await
    }

    /// Runs one SQL statement on the database behind `label` from outside the app (waiting
    /// for the app's writers like any other connection) and returns the rows it changed.
    pub async fn execute_sql(
        &self,
        label: &'static str,
        statement: &'static str,
        parameters: Vec<rusqlite::types::Value>,
    ) -> usize {
        self.with_storage_outside("sql", move |storage, state| {
            storage.execute_sql(state, label, statement, parameters)
        })
        .await
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

    /// The SQLite file behind `label` for this app.
    pub fn database_path(&self, label: &str) -> PathBuf {
        self.options.storage.database_path(self.state.path(), label)
    }

    /// Sends a request built by `build` and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// GET `path` with `token` as the bearer.
    pub async fn get_as(&self, path: &str, token: &str) -> Answer {
        self.send(self.authed(self.client.get(self.url(path)), token))
            .await
    }

    /// POST `body` as JSON to `path` with `token` as the bearer.
    pub async fn post_json_as(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.send(
            self.authed(self.client.post(self.url(path)), token)
                .json(body),
        )
        .await
    }

    /// PATCH `body` as JSON to `path` with `token` as the bearer.
    pub async fn patch_json_as(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.send(
            self.authed(self.client.patch(self.url(path)), token)
                .json(body),
        )
        .await
    }

    /// Stops the app and starts it again on the same state directory.
    pub async fn restart(self) -> TestApp {
        let options = self.options.clone();
        self.restart_with(options).await
    }

    /// Stops the app and starts it with other options on the same state directory.
    pub async fn restart_with(mut self, options: AppOptions) -> TestApp {
        if let Some(serving) = self.serving.take() {
            serving.stop().await;
        }
        start_on(options, self.state.clone(), self.scratch.clone())
            .await
            .unwrap_or_else(|e| panic!("restart failed: {e:#}"))
    }

    /// Kills the host hard (SIGKILL, mid-request) and starts it again on the same state.
    pub async fn crash_and_restart(mut self) -> TestApp {
        if let Some(serving) = self.serving.take() {
            serving.kill();
        }
        start_on(
            self.options.clone(),
            self.state.clone(),
            self.scratch.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("restart after the crash failed: {e:#}"))
    }

    /// A second instance of the app on its own port, sharing this one's state (the same
    /// SQLite files and key-value store): two replicas behind a load balancer.
    pub async fn replica(&self) -> TestApp {
        let scratch = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")));
        start_on(self.options.clone(), self.state.clone(), scratch)
            .await
            .unwrap_or_else(|e| panic!("replica did not start: {e:#}"))
    }
}

/// What [`TestApp::open_shop`] sets up.
#[derive(Debug, Clone)]
pub struct Shop {
    pub admin: Registered,
    pub buyer: Registered,
    /// The id of the product "Pen".
    pub pen: String,
}

impl Shop {
    /// An order body for `quantity` pens.
    pub fn order_of_pens(&self, quantity: i64) -> Value {
        serde_json::json!({"items": [{"productId": self.pen, "quantity": quantity}], "shippingAddress": shipping_address()})
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// Sends a request with a bearer token.
    pub fn authed(&self, request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        request.bearer_auth(token)
    }

    /// Registers a user (an admin when the email is in `admin_emails`) and returns its token.
    pub async fn register(&self, email: &str) -> Registered {
        let answer = self
            .post_json(
                "/api/users/register",
                &serde_json::json!({ "email": email, "password": "correct-horse", "name": "Test User" }),
            )
            .await;
        assert_eq!(answer.status, 201, "register {email}: {}", answer.text);
        Registered {
            id: answer.body["data"]["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            email: email.to_string(),
            token: answer.body["data"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

impl TestApp {
    /// Creates a product as `admin` and returns its JSON.
    pub async fn create_product(&self, admin: &Registered, body: &Value) -> Value {
        let answer = self.post_json_as("/api/products", body, &admin.token).await;
        assert_eq!(answer.status, 201, "create product: {}", answer.text);
        answer.body["data"].clone()
    }

    /// The start of most order stories: an admin (`admin@example.com`), a buyer
    /// (`buyer@example.com`) and a product "Pen" at 1.00 with `stock` units.
    pub async fn open_shop(&self, stock: i64) -> Shop {
        let admin = self.register("admin@example.com").await;
        let buyer = self.register("buyer@example.com").await;
        let pen = self
            .create_product(
                &admin,
                &serde_json::json!({"name": "Pen", "price": 1, "category": "c", "stock": stock}),
            )
            .await;
        Shop {
            pen: pen["id"].as_str().unwrap_or_default().to_string(),
            admin,
            buyer,
        }
    }

    /// Places an order as `buyer`.
    pub async fn place_order(&self, buyer: &Registered, body: &Value) -> Answer {
        self.post_json_as("/api/orders", body, &buyer.token).await
    }

    /// A product's current stock.
    pub async fn stock_of(&self, product_id: &str) -> i64 {
        let answer = self.get(&format!("/api/products/{product_id}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["data"]["stock"].as_i64().unwrap_or(-1)
    }
}

/// `spin.toml` with `edit` applied, written into `dir`. An edit that changes nothing is a
/// test that no longer tests what it says (the manifest moved on), so it panics.
pub fn manifest_variant(dir: &TempDir, edit: impl Fn(String) -> String) -> PathBuf {
    edited_manifest(&workspace_root().join("spin.toml"), dir, edit)
}

fn edited_manifest(from: &Path, dir: &TempDir, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| panic!("read manifest: {e}"));
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the manifest edit changed nothing");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("write manifest: {e}"));
    path
}

/// `text` with the one occurrence of `from` replaced by `to`; panics when `from` is missing
/// or ambiguous, so a manifest edit cannot silently miss.
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    let found = text.matches(from).count();
    assert_eq!(
        found, 1,
        "expected `{from}` exactly once in the manifest, found {found}"
    );
    text.replacen(from, to, 1)
}
