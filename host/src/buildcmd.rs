//! `--build`: run each component's `[component.x.build]` command, as `spin build` does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::manifest::Manifest;

/// Runs every build command in manifest order, stopping at the first failure. Commands run
/// in the manifest's directory (or their `workdir` below it), as `spin build` runs them,
/// whatever directory the runner was started in and however `manifest_path` is spelled.
pub fn build_all(manifest_path: &Path) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let base = app_directory(manifest_path)?;
    let base = base.as_path();
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

/// The directory a manifest's relative paths start from: its own, made absolute (a bare
/// `spin.toml` has the empty path as its parent, which no process can run in).
pub(crate) fn app_directory(manifest_path: &Path) -> Result<std::path::PathBuf> {
    let absolute = std::path::absolute(manifest_path)
        .with_context(|| format!("cannot resolve {}", manifest_path.display()))?;
    Ok(absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_manifest_name_builds_in_the_manifests_directory() {
        assert_eq!(
            app_directory(Path::new("spin.toml")).expect("resolves"),
            std::env::current_dir().expect("cwd")
        );
        assert_eq!(
            app_directory(Path::new("/apps/shop/spin.toml")).expect("resolves"),
            Path::new("/apps/shop")
        );
    }
}
