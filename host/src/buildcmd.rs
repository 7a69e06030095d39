//! `--build`: run each component's `[component.x.build]` command, as `spin build` does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::manifest::Manifest;

/// Runs every build command in manifest order, stopping at the first failure.
pub fn build_all(manifest_path: &Path) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    for (id, component) in &manifest.component {
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = build
            .workdir
            .as_deref()
            .map(|dir| crate::manifest::resolve(base, dir))
            .unwrap_or_else(|| base.to_path_buf());
        eprintln!("[runner] building {id}: {}", build.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run the build command of `{id}`"))?;
        if !status.success() {
            bail!("build command of `{id}` failed ({status})");
        }
    }
    Ok(())
}
