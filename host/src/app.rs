//! Loading an app: the manifest, its variables and storage layout, every component compiled
//! (or taken from the cache) and pre-linked against the interfaces the runner provides.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::fermyon::spin;
use crate::cache::{anyhow_result, load_component};
use crate::engine::{admission_slots, engine};
use crate::manifest::{Manifest, RouteDecl};
use crate::outbound::AllowedHosts;
use crate::routing::{Route, RouteTable};
use crate::runtime_config::StorageLayout;
use crate::state::{Interface, KeyValueState, RequestState, SqliteState, VariablesState};
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

/// One component, compiled and pre-linked.
pub struct LoadedComponent {
    pub id: String,
    pub(crate) pre: ProxyPre<RequestState>,
    pub allowed_hosts: AllowedHosts,
    pub sqlite_databases: HashSet<String>,
    pub key_value_stores: HashSet<String>,
    pub variables: HashMap<String, String>,
    pub(crate) stdout: File,
    pub(crate) stderr: File,
}

/// The loaded app, shared by every request.
pub struct AppInner {
    /// `[application]` name and version, for `/.well-known/spin/info`.
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) engine: Engine,
    pub(crate) components: Vec<LoadedComponent>,
    pub(crate) by_id: HashMap<String, usize>,
    pub(crate) routes: RouteTable<usize>,
    pub(crate) storage: StorageLayout,
    pub(crate) connections: Arc<crate::pool::ConnectionPool>,
    pub(crate) admission: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
}

fn linker(engine: &Engine) -> Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::sqlite::add_to_linker::<_, Interface<SqliteState>>(&mut linker, RequestState::sqlite)?;
    spin::key_value::add_to_linker::<_, Interface<KeyValueState>>(
        &mut linker,
        RequestState::key_value,
    )?;
    spin::variables::add_to_linker::<_, Interface<VariablesState>>(
        &mut linker,
        RequestState::variables,
    )?;
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
}
