//! The integration-test harness: builds the components once per test run, starts the whole app
//! from `spin.toml` on free ports with a fresh state directory, and calls it over real HTTP.
//!
//! What runs, and where, comes from the environment (see `tests/README.md`):
//! - the host, `STOREFRONT_E2E_HOST`: `runner` (the default, the project's runner in this
//!   process) or `spin` (the real Spin CLI, `$SPIN_BIN` or `spin` on the `PATH`);
//! - the topology, `STOREFRONT_E2E_TOPOLOGY`: `one-app` (the default, `spin.toml` as it is) or
//!   `split` (each component an app of its own on its own port, made from `spin.toml` by
//!   `storefront_runner::split`, every label in one database file);
//! - the storage, `STOREFRONT_E2E_SQLITE` (`per-label` or `one-file`) and
//!   `STOREFRONT_E2E_REDIS_URL` (key-value on that Redis server instead of a file).
//!
//! Modules: `build` (the components), `options` (what an app under test is made of),
//! `serving` (one app on one host), `app` ([`TestApp`]: the apps of a test, their lifecycle
//! and storage), `client` (requests), `shop` (the steps most stories start with), `storage`,
//! `spin`, `fake` (a host outside the app).

mod app;
mod build;
mod client;
pub mod fake;
mod options;
mod serving;
mod shop;
pub mod spin;
pub mod storage;

use std::future::Future;
use std::time::Duration;

pub use app::{TestApp, spawn_app, spawn_app_with, try_spawn};
pub use build::{COMPONENTS, build_components, built_components, probe_component, workspace_root};
pub use client::{Answer, count_by_status};
pub use options::{AppOptions, Topology, manifest_variant, replace_once};
pub use shop::{Registered, Shop, order_of, shipping_address, spawn_shop};
pub use storage::{HostKind, Storage};

/// A secret long enough for the auth crate; tests only.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
/// The service-to-service secret of test apps; tests only.
pub const TEST_SERVICE_TOKEN_SECRET: &str = "integration-service-secret-0123456789abcdef";
/// The operator's admin bootstrap token of test apps; tests only.
pub const TEST_ADMIN_BOOTSTRAP_TOKEN: &str = "integration-bootstrap-token-0123456789abcdef";
/// The address test apps list in `admin_emails`.
pub const TEST_ADMIN_EMAIL: &str = "admin@example.com";

/// A service token from `caller` to `target`, as the app's own services sign their calls
/// (for tests that call a private endpoint directly).
pub fn service_token(caller: &str, target: &str) -> String {
    let keys = auth::ServiceKeys::from_secret(TEST_SERVICE_TOKEN_SECRET)
        .unwrap_or_else(|e| panic!("service secret: {e}"));
    keys.issue(caller, target)
        .unwrap_or_else(|e| panic!("service token: {e}"))
}

/// Held by the tests that load a host to its limits (a burst over the instance budget,
/// runaway instances, stalled clients) so that they run one at a time: the in-process runner's
/// admission slots and instance pool are shared by every test in this binary, and one such test
/// would skew another's timing.
pub async fn exclusive_heavy_load() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Waits, if needed, until at least 10 s remain in the current one-minute rate-limit window
/// (wall clock, as the app counts), so that a test counting a few requests against a limit
/// does not see the counters reset halfway.
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

/// Reads with `read` until `done` holds of what it read, at most `tries` times, `every` apart
/// (for what the app finishes after its response: deliveries, releases, pruning); returns the
/// last read either way, for the test to assert on.
pub async fn poll_until<T, Read, Reading>(
    tries: u32,
    every: Duration,
    mut read: Read,
    done: impl Fn(&T) -> bool,
) -> T
where
    Read: FnMut() -> Reading,
    Reading: Future<Output = T>,
{
    let mut last = read().await;
    for _ in 1..tries {
        if done(&last) {
            break;
        }
        tokio::time::sleep(every).await;
        last = read().await;
    }
    last
}
