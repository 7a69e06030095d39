//! What an app under test is made of: its manifest, variables, host, topology and storage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use crate::build::{COMPONENTS, built_components, probe_component, workspace_root};
use crate::storage::{HostKind, Storage, choice_from_env};
use crate::{
    TEST_ADMIN_BOOTSTRAP_TOKEN, TEST_ADMIN_EMAIL, TEST_JWT_SECRET, TEST_SERVICE_TOKEN_SECRET,
};

/// How the components are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// `spin.toml` as it is: one app, services reached through local service chaining.
    OneApp,
    /// Each component an app of its own on its own port (as on Fermyon Cloud or SpinKube per
    /// service), the gateway and the services calling each other by URL, every SQLite label in
    /// one database file (a plan with one database).
    Split,
}

impl Topology {
    /// `STOREFRONT_E2E_TOPOLOGY`: `one-app` (default) or `split`.
    pub fn from_env() -> Self {
        choice_from_env(
            "STOREFRONT_E2E_TOPOLOGY",
            &[("one-app", Self::OneApp), ("split", Self::Split)],
        )
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
    /// How the components are deployed: the environment's choice unless a test needs one.
    pub topology: Topology,
    /// Where the data lives: the environment's choice unless a test needs one in particular.
    pub storage: Storage,
    /// On the runner: run it as this binary (a process of its own, which a test can kill)
    /// rather than inside the test process. Integration tests pass
    /// `env!("CARGO_BIN_EXE_app-runner")`.
    pub runner_binary: Option<PathBuf>,
    /// On the in-process runner: how long an instance may run (its default otherwise).
    pub runner_request_timeout: Option<Duration>,
    /// On the in-process runner: the listener's limits (its defaults otherwise).
    pub runner_limits: Option<storefront_runner::ServerLimits>,
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
            (
                "admin_bootstrap_token".to_string(),
                TEST_ADMIN_BOOTSTRAP_TOKEN.to_string(),
            ),
            ("admin_emails".to_string(), TEST_ADMIN_EMAIL.to_string()),
            // Every /health checks the services afresh (the cache has a test of its own).
            ("health_cache_ms".to_string(), "0".to_string()),
        ]);
        let topology = Topology::from_env();
        let mut storage = Storage::from_env();
        if topology == Topology::Split {
            storage.one_database_file = true;
        }
        Self {
            manifest: workspace_root().join("spin.toml"),
            variables,
            source_overrides: HashMap::new(),
            host: HostKind::from_env(),
            topology,
            storage,
            runner_binary: None,
            runner_request_timeout: None,
            runner_limits: None,
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

    /// In the one-app layout, routes to the endpoints meant for other services
    /// (`/reservations`, `/events`, `/auth/verify`, `/dead-letters`) from outside, as the
    /// split layout has them anyway, for tests that call those endpoints directly (see
    /// [`crate::TestApp::private_url`]).
    pub fn exposing_private_endpoints(self) -> Self {
        if self.topology == Topology::Split {
            return self;
        }
        self.with_manifest(|text| {
            let mut text = text;
            for (route, component) in [
                ("/reservations/...", "product-service"),
                ("/events/...", "notification-service"),
                ("/auth/...", "user-service"),
                ("/dead-letters/...", "order-service"),
            ] {
                text.push_str(&format!(
                    "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
                ));
            }
            text
        })
    }

    /// The same options on the project's runner, whatever the environment chose (for tests
    /// of the runner's own behaviour).
    pub fn on_runner(mut self) -> Self {
        self.host = HostKind::Runner;
        self
    }

    /// The same options in the one-app layout, whatever the environment chose (for tests of
    /// what only that layout has: service chaining to a private component, say).
    pub fn as_one_app(mut self) -> Self {
        self.topology = Topology::OneApp;
        self
    }

    /// The same options in the split layout (every label in one file), whatever the
    /// environment chose (for tests of the gateway's proxy between apps).
    pub fn as_split(mut self) -> Self {
        self.topology = Topology::Split;
        self.storage.one_database_file = true;
        self
    }

    /// Every component's `.wasm`: the harness's build, or an override.
    pub(crate) fn sources(&self) -> HashMap<String, PathBuf> {
        let components = built_components();
        let mut sources: HashMap<String, PathBuf> = COMPONENTS
            .iter()
            .map(|(id, file)| (id.to_string(), components.join(format!("{file}.wasm"))))
            .collect();
        sources.extend(self.source_overrides.clone());
        sources
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
