//! The integration-test harness: builds the components once per test run, starts the whole app
//! from `spin.toml` in the runner on a free port with a fresh state directory, and calls it
//! over real HTTP.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use storefront_runner::{LoadOptions, ProvidedValues, RunningApp};
use tempfile::TempDir;

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
}

impl Default for AppOptions {
    fn default() -> Self {
        let variables = HashMap::from([
            ("jwt_secret".to_string(), TEST_JWT_SECRET.to_string()),
            ("admin_emails".to_string(), "admin@example.com".to_string()),
        ]);
        Self {
            manifest: workspace_root().join("spin.toml"),
            variables,
            source_overrides: HashMap::new(),
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
}

/// A running app with its own state; stops when dropped.
pub struct TestApp {
    running: Option<RunningApp>,
    pub base_url: String,
    pub client: reqwest::Client,
    pub state: TempDir,
    options: AppOptions,
}

/// The load options the harness uses for `options` and `state_dir`.
pub fn load_options(options: &AppOptions, state_dir: &Path) -> LoadOptions {
    let components = built_components();
    let mut source_overrides: HashMap<String, PathBuf> = COMPONENTS
        .iter()
        .map(|(id, file)| (id.to_string(), components.join(format!("{file}.wasm"))))
        .collect();
    source_overrides.extend(options.source_overrides.clone());
    LoadOptions {
        manifest: options.manifest.clone(),
        state_dir: state_dir.to_path_buf(),
        runtime_config: None,
        cache_dir: Some(harness_target_dir().join("compiled-cache")),
        variables: ProvidedValues {
            explicit: options.variables.clone(),
            environment: HashMap::new(),
        },
        source_overrides,
    }
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

/// Starts the app, or says why it could not.
pub async fn try_spawn(options: AppOptions, state: TempDir) -> anyhow::Result<TestApp> {
    let load = load_options(&options, state.path());
    let running = RunningApp::start(load, ([127, 0, 0, 1], 0).into()).await?;
    let base_url = format!("http://{}", running.addr());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(TestApp {
        running: Some(running),
        base_url,
        client,
        state,
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

    /// Stops the app and starts it again on the same state directory.
    pub async fn restart(self) -> TestApp {
        let options = self.options.clone();
        self.restart_with(options).await
    }

    /// Stops the app and starts it with other options on the same state directory.
    pub async fn restart_with(mut self, options: AppOptions) -> TestApp {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        try_spawn(options, self.state)
            .await
            .unwrap_or_else(|e| panic!("restart failed: {e:#}"))
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
        let answer = self
            .send(
                self.authed(self.client.post(self.url("/api/products")), &admin.token)
                    .json(body),
            )
            .await;
        assert_eq!(answer.status, 201, "create product: {}", answer.text);
        answer.body["data"].clone()
    }

    /// A product's current stock.
    pub async fn stock_of(&self, product_id: &str) -> i64 {
        let answer = self.get(&format!("/api/products/{product_id}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["data"]["stock"].as_i64().unwrap_or(-1)
    }
}

/// `spin.toml` with `edit` applied, written into `dir`.
pub fn manifest_variant(dir: &TempDir, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap_or_default();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, edit(text)).unwrap_or_else(|e| panic!("write manifest: {e}"));
    path
}
