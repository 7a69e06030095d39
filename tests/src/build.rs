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

/// Builds the app's components (and `extra` packages) of the checkout at `root` in release
/// for `wasm32-wasip2`, into `target`; returns the directory of the `.wasm`s.
pub fn build_components(root: &Path, target: &Path, extra: &[&str]) -> Result<PathBuf, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--release", "--target", "wasm32-wasip2"]);
    for package in COMPONENTS
        .iter()
        .map(|(id, _)| *id)
        .chain(extra.iter().copied())
    {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the components of {} failed: {status}",
            root.display()
        ));
    }
    Ok(target.join("wasm32-wasip2").join("release"))
}

/// Builds every component once per test process and returns the directory of the `.wasm`s.
pub fn built_components() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    // The runner's fault-handling probe is built too (never part of the app).
    let built = BUILT.get_or_init(|| {
        build_components(&workspace_root(), &harness_target_dir(), &["runner-probe"])
    });
    match built {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    }
}
