//! Loading an app: the manifest, its variables (secrets checked), its storage, and every
//! component compiled (or taken from the cache), pre-linked, and given what it declared.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::allowed_hosts::AllowedHosts;
use crate::cache::{anyhow_result, load_component};
use crate::engine::{admission_slots, engine};
use crate::factors::key_value::{Backend, KeyValueStores};
use crate::factors::sqlite::SqliteDatabases;
use crate::instance::{ComponentGrants, RequestState, linker};
use crate::manifest::{Manifest, RouteDecl};
use crate::routing::{Route, RouteTable};
use crate::runtime_config::{KeyValueLocation, StorageLayout};
use crate::stats::HostCalls;
use crate::variables::{
    ProvidedValues, check_secrets, expand_allowed_hosts, resolve_application, resolve_components,
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

/// One component, compiled, pre-linked, with what it declared.
pub struct LoadedComponent {
    pub(crate) pre: ProxyPre<RequestState>,
    pub(crate) grants: ComponentGrants,
    pub(crate) stdout: File,
    pub(crate) stderr: File,
}

impl LoadedComponent {
    pub fn id(&self) -> &str {
        &self.grants.id
    }
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
    pub(crate) admission: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
    pub(crate) calls: Arc<HostCalls>,
}

fn log_file(dir: &Path, name: &str) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .with_context(|| format!("cannot open log file in {}", dir.display()))
}

/// The key-value stores of the app, one backend per location however many labels and
/// components use it.
#[derive(Default)]
struct KeyValueBackends(HashMap<KeyValueLocation, Arc<Backend>>);

impl KeyValueBackends {
    fn get(&mut self, location: KeyValueLocation) -> Result<Arc<Backend>> {
        if let Some(backend) = self.0.get(&location) {
            return Ok(backend.clone());
        }
        let backend = Arc::new(match &location {
            KeyValueLocation::File(path) => Backend::sqlite_file(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
            KeyValueLocation::Redis(url) => {
                Backend::redis(url).with_context(|| format!("invalid Redis URL `{url}`"))?
            }
        });
        self.0.insert(location, backend.clone());
        Ok(backend)
    }
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
        check_secrets(&manifest.variables, &app_values)?;
        let variables = resolve_components(&manifest, &app_values)?;
        let storage = StorageLayout::new(&options.state_dir, options.runtime_config.as_deref())?;
        let log_dir = options.state_dir.join("logs");
        std::fs::create_dir_all(&log_dir)?;
        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| options.state_dir.join("cache"));

        let engine = engine()?;
        let linker = anyhow_result(linker(&engine))?;
        let mut key_value = KeyValueBackends::default();
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
            let stores = decl
                .key_value_stores
                .iter()
                .map(|label| {
                    let backend = key_value
                        .get(storage.key_value_location(label))
                        .with_context(|| format!("key-value store `{label}`"))?;
                    Ok((label.clone(), backend))
                })
                .collect::<Result<HashMap<_, _>>>()?;
            let databases = decl
                .sqlite_databases
                .iter()
                .map(|label| (label.clone(), storage.sqlite_path(label)))
                .collect();
            let allowed_hosts = expand_allowed_hosts(&decl.allowed_outbound_hosts, &app_values)
                .and_then(|entries| AllowedHosts::parse(&entries))
                .with_context(|| format!("component `{id}`"))?;
            by_id.insert(id.clone(), components.len());
            components.push(LoadedComponent {
                pre,
                grants: ComponentGrants {
                    id: id.as_str().into(),
                    sqlite: Arc::new(SqliteDatabases::new(databases)),
                    key_value: Arc::new(KeyValueStores::new(stores)),
                    variables: Arc::new(variables.get(id).cloned().unwrap_or_default()),
                    allowed_hosts: Arc::new(allowed_hosts),
                },
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
            admission: admission_slots(),
            request_timeout: options.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            calls: Arc::default(),
        }))
    }

    pub fn component_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// What the app has asked of its host so far.
    pub fn host_calls(&self) -> crate::stats::HostCallCounts {
        self.calls.read()
    }

    /// The public routes, as `(route, component id)`, for start-up output.
    pub fn public_routes(&self) -> Vec<(String, String)> {
        self.routes
            .routes()
            .map(|(route, index)| {
                (
                    route.as_manifest_str(),
                    self.components[*index].id().to_string(),
                )
            })
            .collect()
    }
}
