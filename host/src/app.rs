//! Loading an app from its manifest and serving one request with a fresh component instance.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use envelope::ErrorCode;
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::bindings::fermyon::spin;
use crate::manifest::{Manifest, RouteDecl};
use crate::outbound::AllowedHosts;
use crate::routing::{Route, RouteTable};
use crate::runtime_config::StorageLayout;
use crate::state::{INTERNAL_HOST_SUFFIX, RequestState};
use crate::variables::{
    ProvidedValues, expand_allowed_hosts, resolve_application, resolve_components,
};

/// How the app is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub manifest: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Where compiled components are kept between runs (default `<state_dir>/cache`).
    pub cache_dir: Option<PathBuf>,
    pub variables: ProvidedValues,
    /// Use these `.wasm` files instead of the manifest's `source` (test harnesses).
    pub source_overrides: HashMap<String, PathBuf>,
    /// How long one instance may run, work after its response included, before it is
    /// stopped (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub request_timeout: Option<Duration>,
}

/// How long an instance may run unless `--request-timeout` says otherwise: longer than any
/// request of this app plus the event delivery after it (a batch of 20 at 3 s each).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How often running WebAssembly is interrupted to check its deadline and let other tasks
/// of the same worker thread run.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One component, compiled and pre-linked.
pub struct LoadedComponent {
    pub id: String,
    pre: ProxyPre<RequestState>,
    pub allowed_hosts: AllowedHosts,
    pub sqlite_databases: HashSet<String>,
    pub key_value_stores: HashSet<String>,
    pub variables: HashMap<String, String>,
    stdout: File,
    stderr: File,
}

/// The loaded app, shared by every request.
pub struct AppInner {
    /// `[application]` name and version, for `/.well-known/spin/info`.
    name: String,
    version: Option<String>,
    engine: Engine,
    components: Vec<LoadedComponent>,
    by_id: HashMap<String, usize>,
    routes: RouteTable<usize>,
    storage: StorageLayout,
    connections: Arc<crate::pool::ConnectionPool>,
    admission: Arc<Semaphore>,
    request_timeout: Duration,
}

/// Requests from outside served at once. A request holds its slot until every instance it led
/// to has returned, including work a component does after answering and the components it
/// called, so at most this many request trees hold instances. Six instances per tree (the
/// aggregated health check) times this stays under the pooling allocator's 1000 instances.
pub const MAX_CONCURRENT_REQUESTS: usize = 128;
/// How long a request waits for a slot before it is answered 503.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(10);

/// Paths Spin keeps for itself on every app.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// A request tree's slot: cloned into every instance the request leads to.
pub type Admission = Arc<OwnedSemaphorePermit>;

/// Which route led to a component, for Spin's `spin-*` request headers.
struct RouteInfo {
    route: String,
    path_info: String,
    client_addr: SocketAddr,
}

/// One engine per process: apps started in the same process (tests) share its instance pool
/// and compiled code stays compatible with the on-disk cache.
fn engine() -> Result<Engine> {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let engine = new_engine()?;
    let engine = ENGINE.get_or_init(|| engine).clone();
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`], once per process, on a thread of its own
/// (a busy runtime must not delay the ticks that interrupt what keeps it busy).
fn start_epoch_ticker(engine: &Engine) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let engine = engine.weak();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = engine.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            });
        if let Err(error) = spawned {
            eprintln!("[runner] cannot start the epoch ticker: {error}");
        }
    });
}

/// The admission slots, one set per process like the engine whose instance pool they protect:
/// apps started in one process (the tests) share the pool, so they share the slots too.
fn admission_slots() -> Arc<Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)))
        .clone()
}

/// Bytes of each linear memory zeroed in place rather than decommitted when a slot is reused.
const KEEP_RESIDENT_PER_MEMORY: usize = 2 << 20;

fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    // Running code checks an epoch counter that a ticker advances (see `start_epoch_ticker`):
    // each tick yields to the scheduler, and an instance past its deadline traps, so no
    // component can hold a worker thread forever.
    config.epoch_interruption(true);
    let mut pooling = PoolingAllocationConfig::default();
    // A request holds up to three instances (gateway, service, notification), and tests run
    // dozens of concurrent requests; memories are bounded so the reservation stays modest.
    pooling
        .total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .max_memory_size(256 << 20)
        // Every request instantiates afresh, so resetting a slot is on the hot path. Resetting
        // with `madvise` costs a TLB shootdown per slot and a page fault per page on reuse
        // (a fifth of the runner's time in the first profile); instead, the pages an instance
        // dirtied (found with PAGEMAP_SCAN where the kernel has it) are zeroed in place up to
        // this much. Only bigger instances (password hashing) still decommit, one at a time so
        // their memory is returned at once rather than batched.
        .linear_memory_keep_resident(KEEP_RESIDENT_PER_MEMORY)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Few idle warm slots: reuse concentrates on the same slots, which bounds the memory
        // kept resident to about the peak concurrency times what one request touches.
        .max_unused_warm_slots(16);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            eprintln!(
                "[runner] pooling allocator unavailable ({error:#}); using on-demand allocation"
            );
            Ok(Engine::new(&config)?)
        }
    }
}

/// Compiles a component, or loads the machine code cached from an earlier run.
fn load_component(engine: &Engine, wasm: &Path, cache_dir: &Path) -> Result<Component> {
    let bytes = std::fs::read(wasm).with_context(|| {
        format!(
            "cannot read component {} (run with --build, or `spin build`)",
            wasm.display()
        )
    })?;
    let mut compatibility = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let mut digest = Sha256::new();
    digest.update(&bytes);
    digest.update(compatibility.finish().to_le_bytes());
    let key: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cached = cache_dir.join(format!("{key}.cwasm"));
    // Apps started at once in one process (the test suite) would all compile the same
    // components; one at a time, the first compiles and the rest load its cache entry.
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = COMPILING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this runner into a
        // directory it owns, under a key that covers both the source bytes and the engine
        // configuration; a stale or foreign file fails the deserializer's own header checks.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(component) => return Ok(component),
            Err(error) => eprintln!(
                "[runner] ignoring unusable cache entry {}: {error:#}",
                cached.display()
            ),
        }
    }
    let component = anyhow_result(Component::new(engine, &bytes))
        .with_context(|| format!("cannot compile {}", wasm.display()))?;
    std::fs::create_dir_all(cache_dir)?;
    // Unique per writer: apps started concurrently in one process may compile the same component.
    let temporary = cache_dir.join(format!("{key}.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, &cached)?;
    Ok(component)
}

/// wasmtime 48 has its own error type; this keeps `anyhow` context chains working.
fn anyhow_result<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}

fn linker(engine: &Engine) -> Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::sqlite::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    spin::key_value::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    spin::variables::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

fn log_file(dir: &Path, name: &str) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .with_context(|| format!("cannot open log file in {}", dir.display()))
}

impl AppInner {
    pub fn load(options: &LoadOptions) -> Result<Arc<Self>> {
        let manifest = Manifest::load(&options.manifest)?;
        let base = options
            .manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let app_values = resolve_application(&manifest.variables, &options.variables)?;
        let variables = resolve_components(&manifest, &app_values)?;
        let storage = StorageLayout::new(&options.state_dir, options.runtime_config.as_deref())?;
        let log_dir = options.state_dir.join("logs");
        std::fs::create_dir_all(&log_dir)?;
        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| options.state_dir.join("cache"));

        let engine = engine()?;
        let linker = linker(&engine)?;
        let mut components = Vec::new();
        let mut by_id = HashMap::new();
        for (id, decl) in &manifest.component {
            let wasm = options
                .source_overrides
                .get(id)
                .cloned()
                .unwrap_or_else(|| crate::manifest::resolve(&base, &decl.source));
            let component = load_component(&engine, &wasm, &cache_dir)?;
            let pre = anyhow_result(ProxyPre::new(
                anyhow_result(linker.instantiate_pre(&component)).with_context(|| {
                    format!("component `{id}` imports something this runner does not provide")
                })?,
            ))
            .with_context(|| {
                format!("component `{id}` does not export wasi:http/incoming-handler")
            })?;
            for label in &decl.key_value_stores {
                crate::kv::open_backing(&storage.key_value_path(label))
                    .with_context(|| format!("key-value store `{label}`"))?;
            }
            by_id.insert(id.clone(), components.len());
            components.push(LoadedComponent {
                id: id.clone(),
                pre,
                allowed_hosts: expand_allowed_hosts(&decl.allowed_outbound_hosts, &app_values)
                    .and_then(|entries| AllowedHosts::parse(&entries))
                    .with_context(|| format!("component `{id}`"))?,
                sqlite_databases: decl.sqlite_databases.iter().cloned().collect(),
                key_value_stores: decl.key_value_stores.iter().cloned().collect(),
                variables: variables.get(id).cloned().unwrap_or_default(),
                stdout: log_file(&log_dir, &format!("{id}_stdout.txt"))?,
                stderr: log_file(&log_dir, &format!("{id}_stderr.txt"))?,
            });
        }

        let mut routes = RouteTable::default();
        for trigger in &manifest.trigger.http {
            let index = by_id[&trigger.component];
            match &trigger.route {
                RouteDecl::Path(path) => routes.add(Route::parse(path)?, index)?,
                RouteDecl::Private { .. } => {}
            }
        }
        if manifest.trigger.http.is_empty() {
            bail!("the manifest has no [[trigger.http]] entries");
        }
        Ok(Arc::new(Self {
            name: manifest.application.name.clone(),
            version: manifest.application.version.clone(),
            engine,
            components,
            by_id,
            routes,
            storage,
            connections: Arc::default(),
            admission: admission_slots(),
            request_timeout: options.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        }))
    }

    pub fn component(&self, index: usize) -> &LoadedComponent {
        &self.components[index]
    }

    pub fn component_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn storage(&self) -> &StorageLayout {
        &self.storage
    }

    /// Reused SQLite connections (databases and key-value stores).
    pub fn connection_pool(&self) -> Arc<crate::pool::ConnectionPool> {
        self.connections.clone()
    }

    /// The public routes, as `(route, component id)`, for start-up output.
    pub fn public_routes(&self) -> Vec<(String, String)> {
        self.routes
            .routes()
            .map(|(route, index)| (route.as_manifest_str(), self.components[*index].id.clone()))
            .collect()
    }

    /// Serves a request that arrived from outside: public routes only.
    pub async fn dispatch_external(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        client_addr: SocketAddr,
    ) -> http::Response<WasiBody> {
        if let Some(reserved) = self.well_known(request.uri().path()) {
            return reserved;
        }
        let Some(found) = self.routes.find(request.uri().path()) else {
            return host_error(ErrorCode::NotFound, "Route not found", "runner");
        };
        let info = RouteInfo {
            route: found.route.as_manifest_str(),
            path_info: found.path_info,
            client_addr,
        };
        let target = *found.target;
        let permit = tokio::time::timeout(ADMISSION_WAIT, self.admission.clone().acquire_owned());
        let Ok(Ok(admission)) = permit.await else {
            eprintln!(
                "[runner] no free request slot within {}s; answering 503",
                ADMISSION_WAIT.as_secs()
            );
            let mut busy = host_error(
                ErrorCode::ServiceUnavailable,
                "The server is busy; retry shortly",
                "runner",
            );
            busy.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            return busy;
        };
        self.dispatch(target, info, request, Arc::new(admission))
            .await
    }

    /// Spin's own endpoints under `/.well-known/spin/`, which no app route can shadow:
    /// `health` (200 `OK` once the app is loaded, for any method) and `info` (the app's name
    /// and version); anything else there is 404.
    fn well_known(&self, path: &str) -> Option<http::Response<WasiBody>> {
        let rest = path.strip_prefix(WELL_KNOWN_PREFIX)?;
        let (content_type, body) = match rest {
            "health" => ("text/plain", Bytes::from_static(b"OK")),
            "info" => {
                let info = serde_json::json!({ "name": self.name, "version": self.version });
                ("application/json", Bytes::from(info.to_string()))
            }
            _ => return Some(host_error(ErrorCode::NotFound, "Route not found", "runner")),
        };
        let mut response = http::Response::new(
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Some(response)
    }

    /// Serves a request one component sent to `http://<id>.spin.internal`.
    pub async fn dispatch_internal(
        self: Arc<Self>,
        target: usize,
        request: http::Request<WasiBody>,
        admission: Admission,
    ) -> http::Response<WasiBody> {
        let info = RouteInfo {
            route: "/...".to_string(),
            path_info: request.uri().path().to_string(),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        self.dispatch(target, info, request, admission).await
    }

    async fn dispatch(
        self: Arc<Self>,
        target: usize,
        info: RouteInfo,
        mut request: http::Request<WasiBody>,
        admission: Admission,
    ) -> http::Response<WasiBody> {
        let component = &self.components[target];
        let id = component.id.clone();
        set_spin_headers(&mut request, &info, &id);
        let wasi = WasiCtx::builder()
            .stdout(OutputFile::new(clone_file(&component.stdout)))
            .stderr(OutputFile::new(clone_file(&component.stderr)))
            .build();
        let pre = component.pre.clone();
        let mut store = Store::new(
            &self.engine,
            RequestState::new(self.clone(), target, wasi, admission),
        );
        let started = std::time::Instant::now();
        let limit = self.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if started.elapsed() > limit {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(sender)?)));
        let (incoming, outparam) = match prepared {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("[runner] {id}: cannot prepare request: {error:#}");
                return host_error(ErrorCode::BadRequest, "Malformed request", &id);
            }
        };
        // The guest may keep running after it sends its response (e.g. to deliver events),
        // so the call lives in its own task and only the response is awaited here.
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                eprintln!("[runner] {id}: component answered with error {code:?}");
                host_error(ErrorCode::InternalError, "An internal error occurred", &id)
            }
            Err(_) => {
                match task.await {
                    Ok(Ok(())) => {
                        eprintln!("[runner] {task_id}: component returned without a response")
                    }
                    Ok(Err(error)) => eprintln!("[runner] {task_id}: component trapped: {error:?}"),
                    Err(error) => eprintln!("[runner] {task_id}: component task failed: {error}"),
                }
                host_error(ErrorCode::InternalError, "An internal error occurred", &id)
            }
        }
    }
}

fn clone_file(file: &File) -> File {
    file.try_clone().unwrap_or_else(|_| {
        // Out of descriptors: fall back to discarding output rather than failing the request.
        File::options()
            .write(true)
            .open("/dev/null")
            .unwrap_or_else(|_| panic!("cannot open /dev/null"))
    })
}

fn set_spin_headers(request: &mut http::Request<WasiBody>, info: &RouteInfo, component: &str) {
    let full_url = {
        let uri = request.uri();
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| format!("{component}{INTERNAL_HOST_SUFFIX}"));
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("http://{host}{path_and_query}")
    };
    let component_route = info.route.trim_end_matches("/...").to_string();
    let headers = request.headers_mut();
    // A client must not be able to forge what the runtime tells the component.
    let forged: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    let pairs = [
        ("spin-full-url", full_url),
        ("spin-path-info", info.path_info.clone()),
        ("spin-matched-route", info.route.clone()),
        ("spin-raw-component-route", info.route.clone()),
        ("spin-component-route", component_route),
        ("spin-base-path", "/".to_string()),
        ("spin-client-addr", info.client_addr.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// A runner-made response in the app's envelope shape (the component never got to answer).
pub fn host_error(code: ErrorCode, message: &str, service: &str) -> http::Response<WasiBody> {
    let now = envelope::now_millis();
    let meta = envelope::Meta {
        request_id: uuid::Uuid::new_v4().to_string(),
        timestamp: envelope::rfc3339_from_millis(now),
        execution_time: 0,
        service: service.to_string(),
        environment: None,
        version: None,
        pagination: None,
    };
    let body = envelope::to_json(&envelope::failure(code, message, meta));
    let mut response = http::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::from_u16(code.status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Kept for API symmetry with the server: how long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
