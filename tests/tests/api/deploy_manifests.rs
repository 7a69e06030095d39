//! `deploy/`: the manifests operators apply, checked without a cluster or a cloud account.
//!
//! - SpinKube (`deploy/spinkube`): the one-app `SpinApp`, the per-service `SpinApp`s and their
//!   `HorizontalPodAutoscaler`s, and the example `Secret`, read into the spin-operator's CRD
//!   types (`core.spinkube.dev/v1alpha1`, field names and types as its Go types spell them, and
//!   nothing else) and `autoscaling/v2`, then checked against the operator's admission rules,
//!   the app's `spin.toml`, the split manifests and the Secret they draw from.
//! - The split manifests (`deploy/split`): exactly what `storefront_runner::split` makes from
//!   `spin.toml` today, each holding its component as `spin.toml` declares it.

// The CRD types mirror every field the operator accepts, so that a misspelt or mistyped field
// fails to parse; the checks below read only some of them. A field the operator lets a
// manifest leave out is an `Option` (serde reads a missing one as `None`) or has
// `#[serde(default)]`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use platform::Service;
use platform::variables::names;
use serde::Deserialize;
use storefront_runner::manifest::{ComponentDecl, Manifest, VariableDecl};
use storefront_tests::workspace_root;

/// The one-app `SpinApp`.
const ONE_APP: &str = "deploy/spinkube/spinapp.yaml";
/// The `Secret` every `SpinApp` reads.
const EXAMPLE_SECRET: &str = "deploy/spinkube/secret.example.yaml";
/// One file per service: its `SpinApp`, and its `HorizontalPodAutoscaler` when it autoscales.
const PER_SERVICE_DIR: &str = "deploy/spinkube/per-service";
/// The generated split manifests.
const SPLIT_DIR: &str = "deploy/split";
/// What to do when the split manifests are stale.
const REGENERATE: &str =
    "regenerate them from spin.toml with `cargo run -p storefront-runner -- split`";
/// Spin's own endpoint: 200 once the app is loaded.
const SPIN_HEALTH: &str = "/.well-known/spin/health";
/// A service's own health: its database answers.
const SERVICE_HEALTH: &str = "/health";
/// Kubernetes waits 1 s for a probe unless told otherwise; these probes need longer.
const MIN_PROBE_TIMEOUT_SECONDS: i32 = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinApp {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: SpinAppSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectMeta {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl SpinApp {
    /// `part` of this app's spec, which a check needs set (`what` it is called in the CRD).
    fn needs<'a, T>(&self, part: &'a Option<T>, what: &str) -> &'a T {
        part.as_ref()
            .unwrap_or_else(|| panic!("{}: {what} is not set", self.metadata.name))
    }
}

/// `SpinAppSpec` (api/v1alpha1/spinapp_types.go).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinAppSpec {
    executor: String,
    image: String,
    #[serde(default)]
    image_pull_secrets: Vec<LocalObjectReference>,
    checks: Option<HealthChecks>,
    replicas: Option<i32>,
    #[serde(default)]
    enable_autoscaling: bool,
    runtime_config: Option<RuntimeConfig>,
    #[serde(default)]
    volumes: Vec<serde_yaml::Value>,
    #[serde(default)]
    volume_mounts: Vec<serde_yaml::Value>,
    #[serde(default)]
    variables: Vec<SpinVar>,
    #[serde(default)]
    service_annotations: BTreeMap<String, String>,
    #[serde(default)]
    deployment_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pod_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pod_labels: BTreeMap<String, String>,
    resources: Option<Resources>,
    #[serde(default)]
    components: Vec<String>,
    service_account_name: Option<String>,
    #[serde(default)]
    invocation_limits: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalObjectReference {
    name: String,
}

/// `SpinVar`: a value, or a Kubernetes `EnvVarSource`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinVar {
    name: String,
    value: Option<String>,
    value_from: Option<EnvVarSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVarSource {
    secret_key_ref: Option<KeySelector>,
    config_map_key_ref: Option<KeySelector>,
    field_ref: Option<serde_yaml::Value>,
    resource_field_ref: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySelector {
    name: String,
    key: String,
    optional: Option<bool>,
}

/// `RuntimeConfig`: `loadFromSecret`, or stores and LLM settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfig {
    load_from_secret: Option<String>,
    #[serde(default)]
    sqlite_databases: Vec<StoreConfig>,
    #[serde(default)]
    key_value_stores: Vec<StoreConfig>,
    llm_compute: Option<serde_yaml::Value>,
}

/// `SqliteDatabaseConfig` / `KeyValueStoreConfig`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreConfig {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Vec<RuntimeConfigOption>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfigOption {
    name: String,
    value: Option<String>,
    value_from: Option<RuntimeConfigVarSource>,
}

/// Only these two sources exist for runtime config options (not `fieldRef`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfigVarSource {
    config_map_key_ref: Option<KeySelector>,
    secret_key_ref: Option<KeySelector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthChecks {
    readiness: Option<HealthProbe>,
    liveness: Option<HealthProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HealthProbe {
    http_get: Option<HttpHealthProbe>,
    initial_delay_seconds: Option<i32>,
    timeout_seconds: Option<i32>,
    period_seconds: Option<i32>,
    success_threshold: Option<i32>,
    failure_threshold: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpHealthProbe {
    path: String,
    #[serde(default)]
    http_headers: Vec<NameValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Resources {
    limits: BTreeMap<String, String>,
    requests: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Secret {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    #[serde(rename = "type")]
    kind_of_secret: String,
    string_data: BTreeMap<String, String>,
}

/// `autoscaling/v2` `HorizontalPodAutoscaler`: the fields these manifests use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HorizontalPodAutoscaler {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: HorizontalPodAutoscalerSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HorizontalPodAutoscalerSpec {
    scale_target_ref: CrossVersionObjectReference,
    min_replicas: Option<i32>,
    max_replicas: i32,
    #[serde(default)]
    metrics: Vec<MetricSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CrossVersionObjectReference {
    api_version: Option<String>,
    kind: String,
    name: String,
}

/// A metric; only `type: Resource` is mirrored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    #[serde(rename = "type")]
    kind: String,
    resource: Option<ResourceMetricSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceMetricSource {
    name: String,
    target: MetricTarget,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricTarget {
    #[serde(rename = "type")]
    kind: String,
    average_utilization: Option<i32>,
    average_value: Option<String>,
    value: Option<String>,
}

/// The per-service layout: every document of every file in [`PER_SERVICE_DIR`].
struct PerService {
    apps: Vec<SpinApp>,
    autoscalers: Vec<HorizontalPodAutoscaler>,
}

impl PerService {
    fn load() -> Self {
        let mut layout = Self {
            apps: Vec::new(),
            autoscalers: Vec::new(),
        };
        for (file, document) in read_yaml_documents(PER_SERVICE_DIR) {
            let kind = document
                .get("kind")
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_owned);
            match kind.as_deref() {
                Some("SpinApp") => layout.apps.push(parse_document(&file, document, "the CRD")),
                Some("HorizontalPodAutoscaler") => {
                    layout
                        .autoscalers
                        .push(parse_document(&file, document, "autoscaling/v2"))
                }
                other => panic!(
                    "{file}: a document of kind {other:?}; expected SpinApp or HorizontalPodAutoscaler"
                ),
            }
        }
        layout
    }

    /// Each `SpinApp` by the component it runs: the one whose split manifest's app it is named
    /// after (its image is pushed from that manifest).
    fn by_component(&self, split: &BTreeMap<String, Manifest>) -> BTreeMap<String, &SpinApp> {
        let mut apps = BTreeMap::new();
        for app in &self.apps {
            let component = split
                .iter()
                .find(|(_, manifest)| manifest.application.name == app.metadata.name)
                .map(|(component, _)| component.clone())
                .unwrap_or_else(|| {
                    panic!(
                        "SpinApp `{}` is named after no split app (the `[application] name` of {SPLIT_DIR}/*.toml)",
                        app.metadata.name
                    )
                });
            let previous = apps.insert(component, app);
            assert!(
                previous.is_none(),
                "two SpinApps named `{}`",
                app.metadata.name
            );
        }
        apps
    }
}

/// What the per-service checks compare: `spin.toml`, its split manifests and the per-service
/// layout.
struct Deployment {
    manifest: Manifest,
    split: BTreeMap<String, Manifest>,
    layout: PerService,
}

impl Deployment {
    fn load() -> Self {
        let manifest = spin_toml();
        let split = split_manifests(&manifest);
        Self {
            manifest,
            split,
            layout: PerService::load(),
        }
    }

    /// Each per-service `SpinApp` by the component it runs.
    fn apps(&self) -> BTreeMap<String, &SpinApp> {
        self.layout.by_component(&self.split)
    }
}

/// One document of `file` as the type of its kind.
fn parse_document<T: serde::de::DeserializeOwned>(
    file: &str,
    document: serde_yaml::Value,
    schema: &str,
) -> T {
    serde_yaml::from_value(document)
        .unwrap_or_else(|e| panic!("{file}: a document does not fit {schema}: {e}"))
}

/// Where a variable's value comes from, comparable across apps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum VariableSource {
    Value(String),
    Secret { name: String, key: String },
    Elsewhere,
}

fn source_of(variable: &SpinVar) -> VariableSource {
    match (&variable.value, &variable.value_from) {
        (Some(value), None) => VariableSource::Value(value.clone()),
        (
            None,
            Some(EnvVarSource {
                secret_key_ref: Some(reference),
                ..
            }),
        ) => VariableSource::Secret {
            name: reference.name.clone(),
            key: reference.key.clone(),
        },
        _ => VariableSource::Elsewhere,
    }
}

fn read_yaml<T: serde::de::DeserializeOwned>(relative: &str) -> T {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{relative} does not fit the CRD: {e}"))
}

/// The files directly in the workspace directory `relative` whose names end in `.{extension}`,
/// sorted.
fn files_in(relative: &str, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
        .map(|entry| {
            entry
                .map(|entry| entry.path())
                .unwrap_or_else(|e| panic!("{relative}: {e}"))
        })
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every YAML document of every `.yaml` file in `relative`, with the name of its file.
fn read_yaml_documents(relative: &str) -> Vec<(String, serde_yaml::Value)> {
    let files = files_in(relative, "yaml");
    assert!(!files.is_empty(), "{relative} holds no .yaml file");
    let mut documents = Vec::new();
    for path in files {
        let name = format!("{relative}/{}", file_name(&path));
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
            documents.push((name.clone(), value));
        }
    }
    documents
}

fn spin_toml() -> Manifest {
    Manifest::load(&workspace_root().join("spin.toml")).expect("spin.toml loads")
}

fn example_secret() -> Secret {
    let secret: Secret = read_yaml(EXAMPLE_SECRET);
    assert_eq!(
        (secret.api_version.as_str(), secret.kind.as_str()),
        ("v1", "Secret")
    );
    assert_eq!(secret.kind_of_secret, "Opaque");
    secret
}

/// The split manifest of each component of `app`, as written in [`SPLIT_DIR`].
fn split_manifests(app: &Manifest) -> BTreeMap<String, Manifest> {
    app.component
        .keys()
        .map(|id| {
            let relative = format!("{SPLIT_DIR}/{id}.toml");
            let manifest = Manifest::load(&workspace_root().join(&relative))
                .unwrap_or_else(|e| panic!("{relative}: {e:#}; {REGENERATE}"));
            (id.clone(), manifest)
        })
        .collect()
}

fn sqlite_labels<'a>(components: impl IntoIterator<Item = &'a ComponentDecl>) -> BTreeSet<&'a str> {
    components
        .into_iter()
        .flat_map(|component| component.sqlite_databases.iter().map(String::as_str))
        .collect()
}

fn key_value_labels<'a>(
    components: impl IntoIterator<Item = &'a ComponentDecl>,
) -> BTreeSet<&'a str> {
    components
        .into_iter()
        .flat_map(|component| component.key_value_stores.iter().map(String::as_str))
        .collect()
}

/// The address of a `SpinApp`'s Service inside the cluster (the operator serves it on port 80).
fn cluster_address(app: &SpinApp) -> String {
    format!(
        "http://{}.{}.svc.cluster.local",
        app.metadata.name,
        app.metadata.namespace.as_deref().unwrap_or("default")
    )
}

/// The repository name of an image reference, without registry, path, tag or digest.
fn image_name(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last)
}

/// The names of the `{{ variables }}` a text uses.
fn template_names(text: &str) -> Vec<&str> {
    text.split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}"))
        .map(|(name, _)| name.trim())
        .collect()
}

/// `path` with `.` and `..` resolved by name alone.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Every `secretKeyRef` of the SpinApp, with where it is used.
fn secret_refs(spec: &SpinAppSpec) -> Vec<(String, &KeySelector)> {
    let mut refs = Vec::new();
    for variable in &spec.variables {
        if let Some(reference) = variable
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            refs.push((format!("variable {}", variable.name), reference));
        }
    }
    if let Some(config) = &spec.runtime_config {
        for store in config
            .sqlite_databases
            .iter()
            .chain(&config.key_value_stores)
        {
            for option in &store.options {
                if let Some(reference) = option
                    .value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                {
                    refs.push((
                        format!("store {} option {}", store.name, option.name),
                        reference,
                    ));
                }
            }
        }
    }
    refs
}

fn option_names(store: &StoreConfig) -> BTreeSet<&str> {
    store
        .options
        .iter()
        .map(|option| option.name.as_str())
        .collect()
}

/// The Secret key each option of a store is read from.
fn option_sources(store: &StoreConfig) -> BTreeMap<&str, (&str, &str)> {
    store
        .options
        .iter()
        .map(|option| {
            let reference = option
                .value_from
                .as_ref()
                .and_then(|source| source.secret_key_ref.as_ref())
                .unwrap_or_else(|| {
                    panic!(
                        "store {} option {}: read it from the Secret (secretKeyRef), not inline",
                        store.name, option.name
                    )
                });
            (
                option.name.as_str(),
                (reference.name.as_str(), reference.key.as_str()),
            )
        })
        .collect()
}

/// The resource and the operator's admission rules.
fn assert_is_a_spinapp(app: &SpinApp) {
    let name = &app.metadata.name;
    assert_eq!(app.api_version, "core.spinkube.dev/v1alpha1", "{name}");
    assert_eq!(app.kind, "SpinApp", "{name}");
    assert!(!name.is_empty());
    assert_eq!(app.spec.executor, "containerd-shim-spin", "{name}");
    assert!(!app.spec.image.is_empty(), "{name}: image");
}

/// Fixed positive replicas, or autoscaling with replicas unset (the operator refuses both) and
/// exactly one HorizontalPodAutoscaler on the Deployment the operator names after the SpinApp.
fn assert_scales(app: &SpinApp, autoscalers: &[HorizontalPodAutoscaler]) {
    let name = &app.metadata.name;
    let scaling: Vec<&HorizontalPodAutoscaler> = autoscalers
        .iter()
        .filter(|hpa| hpa.spec.scale_target_ref.name == *name)
        .collect();
    if !app.spec.enable_autoscaling {
        assert!(
            app.spec.replicas.is_some_and(|replicas| replicas > 0),
            "{name}: without autoscaling, replicas must be set and positive"
        );
        assert!(
            scaling.is_empty(),
            "{name}: an autoscaler targets it, but it has fixed replicas (set enableAutoscaling)"
        );
        return;
    }
    assert!(
        app.spec.replicas.is_none(),
        "{name}: with enableAutoscaling, replicas must be unset"
    );
    let [hpa] = scaling.as_slice() else {
        panic!(
            "{name}: autoscaled, so exactly one HorizontalPodAutoscaler must target it (the operator makes none); found {}",
            scaling.len()
        );
    };
    assert_eq!(
        (hpa.api_version.as_str(), hpa.kind.as_str()),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        "{name}"
    );
    assert_eq!(
        hpa.metadata.namespace, app.metadata.namespace,
        "{name}: the autoscaler must be in the SpinApp's namespace"
    );
    let target = &hpa.spec.scale_target_ref;
    assert_eq!(
        (target.api_version.as_deref(), target.kind.as_str()),
        (Some("apps/v1"), "Deployment"),
        "{name}: the autoscaler scales the SpinApp's Deployment"
    );
    let min = hpa.spec.min_replicas.unwrap_or(1);
    assert!(
        (1..=hpa.spec.max_replicas).contains(&min),
        "{name}: minReplicas {min}, maxReplicas {}",
        hpa.spec.max_replicas
    );
    assert!(
        !hpa.spec.metrics.is_empty(),
        "{name}: the autoscaler needs a metric"
    );
    let requests = app
        .spec
        .resources
        .as_ref()
        .map(|resources| &resources.requests);
    for metric in &hpa.spec.metrics {
        assert_eq!(
            metric.kind, "Resource",
            "{name}: only Resource metrics are mirrored"
        );
        let resource = metric
            .resource
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: a Resource metric needs `resource`"));
        if resource.target.kind == "Utilization" {
            assert!(
                resource
                    .target
                    .average_utilization
                    .is_some_and(|percent| percent > 0),
                "{name}: a Utilization target needs averageUtilization"
            );
            assert!(
                requests.is_some_and(|requests| requests.contains_key(&resource.name)),
                "{name}: utilization of {} is measured against its request, which is not set",
                resource.name
            );
        }
    }
}

/// CPU and memory, each limited and requested.
fn assert_has_resources(app: &SpinApp) {
    let name = &app.metadata.name;
    let resources = app.needs(&app.spec.resources, "resources");
    for (which, list) in [
        ("limits", &resources.limits),
        ("requests", &resources.requests),
    ] {
        for resource in ["cpu", "memory"] {
            assert!(
                list.contains_key(resource),
                "{name}: resources.{which}.{resource} is not set"
            );
        }
    }
}

/// Each variable is one the app declares, set once from one source, secrets from the Secret;
/// every required one is set.
fn assert_variables_fit(app: &SpinApp, declared: &BTreeMap<String, VariableDecl>) {
    let name = &app.metadata.name;
    let mut given = BTreeSet::new();
    for variable in &app.spec.variables {
        let declaration = declared.get(&variable.name).unwrap_or_else(|| {
            panic!(
                "{name}: `{}` is not a variable of its manifest",
                variable.name
            )
        });
        assert!(
            variable.value.is_some() != variable.value_from.is_some(),
            "{name}: `{}` needs exactly one of value and valueFrom",
            variable.name
        );
        if declaration.secret {
            assert!(
                matches!(source_of(variable), VariableSource::Secret { .. }),
                "{name}: secret `{}` must be read from the Secret (secretKeyRef)",
                variable.name
            );
        }
        assert!(
            given.insert(variable.name.as_str()),
            "{name}: `{}` is set twice",
            variable.name
        );
    }
    for (variable, declaration) in declared {
        if declaration.required {
            assert!(
                given.contains(variable.as_str()),
                "{name}: required `{variable}` is not set"
            );
        }
    }
}

/// A store for every label the app's components use and no other: SQLite on libSQL (url and
/// token), key-value on Redis (url), each option read from the Secret.
fn assert_stores_fit(app: &SpinApp, sqlite: &BTreeSet<&str>, key_value: &BTreeSet<&str>) {
    let name = &app.metadata.name;
    let config = app.needs(&app.spec.runtime_config, "runtimeConfig");
    assert!(
        config.load_from_secret.is_none(),
        "{name}: loadFromSecret would hide the stores below"
    );
    for (stores, labels, kind, options) in [
        (
            &config.sqlite_databases,
            sqlite,
            "libsql",
            BTreeSet::from(["url", "token"]),
        ),
        (
            &config.key_value_stores,
            key_value,
            "redis",
            BTreeSet::from(["url"]),
        ),
    ] {
        let configured: BTreeSet<&str> = stores.iter().map(|store| store.name.as_str()).collect();
        assert_eq!(
            &configured, labels,
            "{name}: {kind} stores must be exactly its components' labels"
        );
        assert_eq!(
            configured.len(),
            stores.len(),
            "{name}: a label is configured twice"
        );
        for store in stores {
            assert_eq!(store.kind, kind, "{name}: store {}", store.name);
            assert_eq!(option_names(store), options, "{name}: store {}", store.name);
            for option in &store.options {
                assert!(
                    option.value.is_none()
                        && option
                            .value_from
                            .as_ref()
                            .is_some_and(|source| source.secret_key_ref.is_some()),
                    "{name}: store {} option {}: read it from the Secret (secretKeyRef)",
                    store.name,
                    option.name
                );
            }
        }
    }
}

/// Liveness on Spin's own endpoint, readiness on `readiness_path`, each allowed more than the
/// default 1 s.
fn assert_probes(app: &SpinApp, readiness_path: &str) {
    let name = &app.metadata.name;
    let checks = app.needs(&app.spec.checks, "checks");
    for (which, probe, path) in [
        ("liveness", &checks.liveness, SPIN_HEALTH),
        ("readiness", &checks.readiness, readiness_path),
    ] {
        let probe = probe
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no {which} probe"));
        let get = probe
            .http_get
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: the {which} probe needs httpGet"));
        assert_eq!(get.path, path, "{name}: {which} probe");
        assert!(
            probe
                .timeout_seconds
                .is_some_and(|seconds| seconds >= MIN_PROBE_TIMEOUT_SECONDS),
            "{name}: the {which} probe needs timeoutSeconds of at least {MIN_PROBE_TIMEOUT_SECONDS} (Kubernetes' default is 1)"
        );
    }
}

/// Every Secret key the SpinApp reads exists in the example Secret.
fn assert_secret_refs_resolve(app: &SpinApp, secret: &Secret) {
    let name = &app.metadata.name;
    for (used_by, reference) in secret_refs(&app.spec) {
        assert_eq!(reference.name, secret.metadata.name, "{name}: {used_by}");
        assert!(
            secret.string_data.contains_key(&reference.key),
            "{name}: {used_by} reads key `{}`, which the Secret lacks",
            reference.key
        );
    }
}

#[test]
fn the_one_app_spinapp_fits_the_operators_crd_and_spin_toml() {
    // Arrange
    let app: SpinApp = read_yaml(ONE_APP);
    let secret = example_secret();
    let manifest = spin_toml();

    // Assert
    assert_is_a_spinapp(&app);
    assert!(
        app.spec.components.is_empty(),
        "the one app runs every component"
    );
    assert_scales(&app, &[]);
    assert_has_resources(&app);
    assert_variables_fit(&app, &manifest.variables);
    assert_stores_fit(
        &app,
        &sqlite_labels(manifest.component.values()),
        &key_value_labels(manifest.component.values()),
    );
    // The app's aggregated health: every service and its database.
    assert_probes(&app, "/health");
    assert_secret_refs_resolve(&app, &secret);
    assert!(workspace_root().join("deploy/README.md").exists());
}

#[test]
fn the_example_secret_leaves_every_secret_empty() {
    // Arrange: the keys that secret variables and database tokens are read from.
    let secret = example_secret();
    let manifest = spin_toml();
    let layout = PerService::load();
    let one_app: SpinApp = read_yaml(ONE_APP);
    let mut secret_keys = BTreeSet::new();
    for app in layout.apps.iter().chain([&one_app]) {
        for variable in &app.spec.variables {
            let is_secret = manifest
                .variables
                .get(&variable.name)
                .is_some_and(|declaration| declaration.secret);
            if let (true, VariableSource::Secret { key, .. }) = (is_secret, source_of(variable)) {
                secret_keys.insert(key);
            }
        }
        for store in app
            .spec
            .runtime_config
            .iter()
            .flat_map(|c| &c.sqlite_databases)
        {
            if let Some((_, key)) = option_sources(store).get("token") {
                secret_keys.insert((*key).to_string());
            }
        }
    }

    // Assert
    assert!(
        secret_keys.len() >= 3,
        "the SpinApps read their secrets from the Secret: {secret_keys:?}"
    );
    for key in &secret_keys {
        assert_eq!(
            secret.string_data.get(key).map(String::as_str),
            Some(""),
            "{EXAMPLE_SECRET}: `{key}` must be empty (an example value would be deployed as is)"
        );
    }
}

#[test]
fn each_component_has_a_per_service_spinapp_with_an_image_of_its_own() {
    // Arrange
    let deployment = Deployment::load();

    // Act
    let apps = deployment.apps();

    // Assert
    assert_eq!(
        apps.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        deployment
            .manifest
            .component
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        "one SpinApp per component of spin.toml"
    );
    assert_eq!(
        deployment.layout.apps.len(),
        apps.len(),
        "one SpinApp per component, no more"
    );
    let images: BTreeSet<&str> = deployment
        .layout
        .apps
        .iter()
        .map(|app| app.spec.image.as_str())
        .collect();
    assert_eq!(
        images.len(),
        deployment.layout.apps.len(),
        "each service needs its own image: {images:?}"
    );
    for (component, app) in &apps {
        assert_eq!(
            image_name(&app.spec.image),
            app.metadata.name,
            "{component}: the image is pushed from {SPLIT_DIR}/{component}.toml and named after its app"
        );
        assert!(
            app.spec.components.is_empty(),
            "{component}: the image holds one component; `components:` would not make its routes public"
        );
    }
}

#[test]
fn each_per_service_spinapp_fits_the_operators_crd_and_its_split_manifest() {
    // Arrange
    let deployment = Deployment::load();
    let secret = example_secret();
    let apps = deployment.apps();

    for (component, app) in &apps {
        let own = &deployment.split[component];
        let readiness = if Service::from_id(component) == Some(Service::Gateway) {
            // Its /health is aggregated: 503 while any service fails.
            SPIN_HEALTH
        } else {
            SERVICE_HEALTH
        };

        // Assert
        assert_is_a_spinapp(app);
        assert_scales(app, &deployment.layout.autoscalers);
        assert_has_resources(app);
        assert_variables_fit(app, &own.variables);
        assert_stores_fit(
            app,
            &sqlite_labels(own.component.values()),
            &key_value_labels(own.component.values()),
        );
        assert_probes(app, readiness);
        assert_secret_refs_resolve(app, &secret);
    }
    for hpa in &deployment.layout.autoscalers {
        assert!(
            deployment
                .layout
                .apps
                .iter()
                .any(|app| app.metadata.name == hpa.spec.scale_target_ref.name
                    && app.spec.enable_autoscaling),
            "autoscaler `{}` targets no autoscaled SpinApp of {PER_SERVICE_DIR}",
            hpa.metadata.name
        );
    }
}

#[test]
fn per_service_spinapps_call_each_other_at_their_services_in_the_cluster() {
    // Arrange: where each URL variable must point.
    let deployment = Deployment::load();
    let apps = deployment.apps();
    let addresses: BTreeMap<&str, String> = apps
        .iter()
        .filter_map(|(component, app)| {
            let variable = Service::from_id(component).and_then(Service::url_variable)?;
            Some((variable, cluster_address(app)))
        })
        .collect();
    assert_eq!(addresses.len(), Service::BACKENDS.len(), "{addresses:?}");

    for (component, app) in &apps {
        // Act
        let urls: BTreeMap<&str, VariableSource> = app
            .spec
            .variables
            .iter()
            .filter(|variable| addresses.contains_key(variable.name.as_str()))
            .map(|variable| (variable.name.as_str(), source_of(variable)))
            .collect();

        // Assert: every URL its split manifest declares, each at that service's address.
        let declared: BTreeSet<&str> = deployment.split[component]
            .variables
            .keys()
            .map(String::as_str)
            .filter(|name| addresses.contains_key(name))
            .collect();
        assert_eq!(
            urls.keys().copied().collect::<BTreeSet<_>>(),
            declared,
            "{component}: the URL variables to set"
        );
        for (variable, source) in &urls {
            assert_eq!(
                source,
                &VariableSource::Value(addresses[variable].clone()),
                "{component}: `{variable}` must be the in-cluster address of its service's SpinApp"
            );
        }
    }
}

#[test]
fn per_service_spinapps_share_one_database_and_every_setting_they_have_in_common() {
    // Arrange
    let deployment = Deployment::load();
    let apps = deployment.apps();

    // Act: the libSQL database of every label of every app, and where each variable comes from.
    let databases: BTreeSet<BTreeMap<&str, (&str, &str)>> = deployment
        .layout
        .apps
        .iter()
        .filter_map(|app| app.spec.runtime_config.as_ref())
        .flat_map(|config| &config.sqlite_databases)
        .map(option_sources)
        .collect();
    let mut sources: BTreeMap<&str, BTreeMap<VariableSource, Vec<&str>>> = BTreeMap::new();
    for app in &deployment.layout.apps {
        for variable in &app.spec.variables {
            sources
                .entry(variable.name.as_str())
                .or_default()
                .entry(source_of(variable))
                .or_default()
                .push(app.metadata.name.as_str());
        }
    }

    // Assert: one database (`edge` above all must be shared), one value per setting.
    assert_eq!(
        databases.len(),
        1,
        "every label of every app must use the same libSQL url and token: {databases:?}"
    );
    for (variable, by_source) in &sources {
        assert_eq!(
            by_source.len(),
            1,
            "`{variable}` differs between apps of one storefront: {by_source:?}"
        );
    }
    for (component, app) in &apps {
        for shared in names::SECRETS.into_iter().chain([names::ADMIN_EMAILS]) {
            if deployment.split[component].variables.contains_key(shared) {
                assert!(
                    app.spec
                        .variables
                        .iter()
                        .any(|variable| variable.name == shared),
                    "{component}: `{shared}` must be set as in every other app"
                );
            }
        }
    }
}

#[test]
fn the_split_manifests_are_what_the_generator_makes_from_spin_toml_today() {
    // Arrange
    let root = workspace_root();
    let split_dir = root.join(SPLIT_DIR);
    let text = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml reads");

    // Act
    let generated =
        storefront_runner::split::split(&text, &root, &split_dir).expect("spin.toml splits");

    // Assert
    let expected: BTreeSet<String> = generated.iter().map(|m| m.file_name.clone()).collect();
    let written: BTreeSet<String> = files_in(SPLIT_DIR, "toml")
        .iter()
        .map(PathBuf::as_path)
        .map(file_name)
        .collect();
    assert_eq!(
        written, expected,
        "{SPLIT_DIR} must hold one manifest per component of spin.toml; {REGENERATE}"
    );
    for manifest in &generated {
        let on_disk = std::fs::read_to_string(split_dir.join(&manifest.file_name))
            .unwrap_or_else(|e| panic!("{SPLIT_DIR}/{}: {e}", manifest.file_name));
        assert!(
            on_disk == manifest.text,
            "{SPLIT_DIR}/{} is not what spin.toml makes today; {REGENERATE}",
            manifest.file_name
        );
    }
}

/// `key` of `table` as a table.
fn toml_table<'a>(table: &'a toml::Table, key: &str, within: &str) -> &'a toml::Table {
    table
        .get(key)
        .and_then(toml::Value::as_table)
        .unwrap_or_else(|| panic!("{within}: no table `{key}`"))
}

/// Removes `key` (a string) from `table` and returns it.
fn take_string(table: &mut toml::Table, key: &str) -> Option<String> {
    table.remove(key).map(|value| {
        value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("`{key}` is not a string"))
    })
}

#[test]
fn each_split_manifest_holds_its_component_as_spin_toml_declares_it() {
    // Arrange
    let root = workspace_root();
    let split_dir = root.join(SPLIT_DIR);
    let text = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml reads");
    let app: toml::Table = toml::from_str(&text).expect("spin.toml is TOML");
    let manifest = spin_toml();
    let declared = toml_table(&app, "variables", "spin.toml");
    let url_variables: BTreeSet<&str> = Service::ALL
        .into_iter()
        .filter_map(Service::url_variable)
        .collect();
    let mut app_names = BTreeSet::new();

    for (id, decl) in &manifest.component {
        let relative = format!("{SPLIT_DIR}/{id}.toml");
        let split_text = std::fs::read_to_string(root.join(&relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}; {REGENERATE}"));
        let split: toml::Table =
            toml::from_str(&split_text).unwrap_or_else(|e| panic!("{relative} is not TOML: {e}"));

        // Assert: nothing reaches a peer over local service chaining.
        assert!(
            !split_text.contains(".spin.internal"),
            "{relative} mentions `.spin.internal`, which no platform of split apps serves"
        );

        // Assert: an app of its own, under a name no other split app has, public at `/...`.
        let name = toml_table(&split, "application", &relative)
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("{relative}: no application name"));
        assert!(
            app_names.insert(name.to_owned()),
            "two split apps are named `{name}`"
        );
        let trigger: toml::Table = toml::from_str(&format!(
            "[[http]]\nroute = \"/...\"\ncomponent = \"{id}\"\n"
        ))
        .expect("a trigger table");
        assert_eq!(
            toml_table(&split, "trigger", &relative),
            &trigger,
            "{relative}"
        );

        // Assert: the component as spin.toml declares it; `source` and `build.workdir` are
        // rewritten to reach the same files from deploy/split.
        let components = toml_table(&split, "component", &relative);
        assert_eq!(
            components.keys().collect::<Vec<_>>(),
            [id],
            "{relative}: one component"
        );
        let mut original =
            toml_table(toml_table(&app, "component", "spin.toml"), id, "spin.toml").clone();
        let mut copy = toml_table(components, id, &relative).clone();
        let source = take_string(&mut original, "source").unwrap_or_default();
        let copied_source = take_string(&mut copy, "source").unwrap_or_default();
        assert_eq!(
            lexically_normal(&split_dir.join(copied_source)),
            lexically_normal(&root.join(source)),
            "{relative}: `source` must be spin.toml's file"
        );
        if let Some(toml::Value::Table(build)) = original.get_mut("build") {
            let workdir = take_string(build, "workdir").unwrap_or_default();
            let copied_workdir = copy
                .get_mut("build")
                .and_then(toml::Value::as_table_mut)
                .and_then(|build| take_string(build, "workdir"))
                .unwrap_or_else(|| panic!("{relative}: the build needs a workdir"));
            assert_eq!(
                lexically_normal(&split_dir.join(copied_workdir)),
                lexically_normal(&root.join(workdir)),
                "{relative}: the build must run where spin.toml's does"
            );
        }
        assert_eq!(
            copy, original,
            "{relative}: component `{id}` differs from spin.toml's; {REGENERATE}"
        );

        // Assert: every variable it uses, declared as spin.toml does, but the URLs of other
        // apps: required, with no `*.spin.internal` default.
        let variables = toml_table(&split, "variables", &relative);
        let used = decl
            .variables
            .values()
            .chain(&decl.allowed_outbound_hosts)
            .flat_map(|text| template_names(text));
        for variable in used {
            assert!(
                variables.contains_key(variable),
                "{relative}: `{variable}` is used but not declared"
            );
        }
        for (variable, declaration) in variables {
            let mut expected = toml_table(declared, variable, "spin.toml's variables").clone();
            if url_variables.contains(variable.as_str()) {
                expected.remove("default");
                expected.insert("required".into(), toml::Value::Boolean(true));
            }
            assert_eq!(
                declaration.as_table(),
                Some(&expected),
                "{relative}: variable `{variable}`"
            );
        }
    }
}
