//! The components under test: built once per test run, in release, for `wasm32-wasip2`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The components of `spin.toml` and their crate names.
pub const COMPONENTS: [(&str, &str); 5] = [
    ("api-gateway", "api_gateway"),
    ("user-service", "user_service"),
    ("product-service", "product_service"),
    ("order-service", "order_service"),
    ("notification-service", "notification_service"),
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where the harness builds components: its own target directory, because the `cargo test`
/// that runs us holds the lock on the workspace one.
pub(crate) fn harness_target_dir() -> PathBuf {
    workspace_root().join("target").join("harness")
}

/// The probe component's `.wasm` (it traps on `.../trap`), for runner tests.
pub fn probe_component() -> PathBuf {
    built_components().join("runner_probe.wasm")
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
