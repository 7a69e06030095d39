//! `deploy/spinkube`: the manifests a SpinKube user applies, read into the spin-operator's CRD
//! types (`core.spinkube.dev/v1alpha1`, field names and types as its Go types spell them, and
//! nothing else), then checked against the operator's admission rules, the app's `spin.toml`
//! and the Secret they draw from. No cluster is needed; this runs with the e2e suite.

// The CRD types mirror every field the operator accepts, so that a misspelt or mistyped field
// fails to parse; the checks below read only some of them.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use storefront_runner::manifest::Manifest;
use storefront_tests::workspace_root;

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
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// `SpinAppSpec` (api/v1alpha1/spinapp_types.go).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinAppSpec {
    executor: String,
    image: String,
    #[serde(default)]
    image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(default)]
    checks: Option<HealthChecks>,
    #[serde(default)]
    replicas: Option<i32>,
    #[serde(default)]
    enable_autoscaling: bool,
    #[serde(default)]
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
    #[serde(default)]
    resources: Option<Resources>,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
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
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_from: Option<EnvVarSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVarSource {
    #[serde(default)]
    secret_key_ref: Option<KeySelector>,
    #[serde(default)]
    config_map_key_ref: Option<KeySelector>,
    #[serde(default)]
    field_ref: Option<serde_yaml::Value>,
    #[serde(default)]
    resource_field_ref: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySelector {
    name: String,
    key: String,
    #[serde(default)]
    optional: Option<bool>,
}

/// `RuntimeConfig`: `loadFromSecret`, or stores and LLM settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfig {
    #[serde(default)]
    load_from_secret: Option<String>,
    #[serde(default)]
    sqlite_databases: Vec<StoreConfig>,
    #[serde(default)]
    key_value_stores: Vec<StoreConfig>,
    #[serde(default)]
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
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_from: Option<RuntimeConfigVarSource>,
}

/// Only these two sources exist for runtime config options (not `fieldRef`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuntimeConfigVarSource {
    #[serde(default)]
    config_map_key_ref: Option<KeySelector>,
    #[serde(default)]
    secret_key_ref: Option<KeySelector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthChecks {
    #[serde(default)]
    readiness: Option<HealthProbe>,
    #[serde(default)]
    liveness: Option<HealthProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HealthProbe {
    #[serde(default)]
    http_get: Option<HttpHealthProbe>,
    #[serde(default)]
    initial_delay_seconds: Option<i32>,
    #[serde(default)]
    timeout_seconds: Option<i32>,
    #[serde(default)]
    period_seconds: Option<i32>,
    #[serde(default)]
    success_threshold: Option<i32>,
    #[serde(default)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resources {
    #[serde(default)]
    limits: BTreeMap<String, String>,
    #[serde(default)]
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

fn read_yaml<T: serde::de::DeserializeOwned>(relative: &str) -> T {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{relative} does not fit the CRD: {e}"))
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

#[test]
fn the_spinkube_manifests_fit_the_operators_crd_and_the_app() {
    let app: SpinApp = read_yaml("deploy/spinkube/spinapp.yaml");
    let secret: Secret = read_yaml("deploy/spinkube/secret.example.yaml");
    let manifest = Manifest::load(&workspace_root().join("spin.toml")).expect("spin.toml");
    let spec = &app.spec;

    // The resource and the operator's admission rules.
    assert_eq!(app.api_version, "core.spinkube.dev/v1alpha1");
    assert_eq!(app.kind, "SpinApp");
    assert!(!app.metadata.name.is_empty());
    assert_eq!(spec.executor, "containerd-shim-spin");
    assert!(!spec.image.is_empty());
    assert!(
        !spec.enable_autoscaling && spec.replicas.is_some_and(|replicas| replicas > 0),
        "without autoscaling, replicas must be set and positive"
    );

    // Variables: each is the app's, has one source, and every required one is there.
    let mut given = BTreeSet::new();
    for variable in &spec.variables {
        assert!(
            manifest.variables.contains_key(&variable.name),
            "`{}` is not a variable of spin.toml",
            variable.name
        );
        assert!(
            variable.value.is_some() != variable.value_from.is_some(),
            "`{}` needs exactly one of value and valueFrom",
            variable.name
        );
        given.insert(variable.name.as_str());
    }
    for (name, declaration) in &manifest.variables {
        if declaration.required {
            assert!(
                given.contains(name.as_str()),
                "required `{name}` is not set"
            );
        }
    }

    // Runtime config: a store for every label the components use, with the options its
    // type takes (libSQL: exactly url and token; Redis: url).
    let config = spec.runtime_config.as_ref().expect("runtimeConfig");
    assert!(
        config.load_from_secret.is_none(),
        "loadFromSecret would hide the stores below"
    );
    let sqlite_labels: BTreeSet<&str> = manifest
        .component
        .values()
        .flat_map(|component| component.sqlite_databases.iter().map(String::as_str))
        .collect();
    let configured: BTreeSet<&str> = config
        .sqlite_databases
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(configured, sqlite_labels);
    for database in &config.sqlite_databases {
        assert_eq!(database.kind, "libsql", "{}", database.name);
        assert_eq!(
            option_names(database),
            BTreeSet::from(["url", "token"]),
            "{}",
            database.name
        );
    }
    let kv_labels: BTreeSet<&str> = manifest
        .component
        .values()
        .flat_map(|component| component.key_value_stores.iter().map(String::as_str))
        .collect();
    let configured: BTreeSet<&str> = config
        .key_value_stores
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(configured, kv_labels);
    for store in &config.key_value_stores {
        assert_eq!(store.kind, "redis", "{}", store.name);
        assert_eq!(
            option_names(store),
            BTreeSet::from(["url"]),
            "{}",
            store.name
        );
    }
    for store in config
        .sqlite_databases
        .iter()
        .chain(&config.key_value_stores)
    {
        for option in &store.options {
            assert!(
                option.value.is_some() != option.value_from.is_some(),
                "{} option {}: exactly one of value and valueFrom",
                store.name,
                option.name
            );
        }
    }

    // Probes: an HTTP path on each.
    let checks = spec.checks.as_ref().expect("checks");
    for (which, probe) in [
        ("liveness", &checks.liveness),
        ("readiness", &checks.readiness),
    ] {
        let path = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .map(|get| get.path.as_str())
            .unwrap_or_else(|| panic!("{which} needs httpGet.path"));
        assert!(path.starts_with('/'), "{which}: {path}");
    }

    // The Secret has every key the SpinApp reads.
    assert_eq!(
        (secret.api_version.as_str(), secret.kind.as_str()),
        ("v1", "Secret")
    );
    assert_eq!(secret.kind_of_secret, "Opaque");
    for (used_by, reference) in secret_refs(spec) {
        assert_eq!(reference.name, secret.metadata.name, "{used_by}");
        assert!(
            secret.string_data.contains_key(&reference.key),
            "{used_by} reads key `{}`, which the Secret lacks",
            reference.key
        );
    }
    assert!(Path::new(&workspace_root().join("deploy/README.md")).exists());
}
