//! `split`: one Spin app per component, made from the app's manifest, for platforms where the
//! components cannot share an app (Fermyon Cloud has no local service chaining; SpinKube
//! scales an app as a whole).
//!
//! Each split manifest holds one component exactly as the app declares it (source, variables,
//! stores, outbound hosts, build), with a public `/...` route and only the application
//! variables it uses. A variable whose default points at another component through local
//! service chaining (`*.spin.internal`) has no default in a split manifest: it is required,
//! and is set to the other app's origin. Paths stay pointing at the same files: the build runs
//! in the app's directory (`workdir`), and `source` is rewritten relative to the new manifest.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

use crate::factors::outbound_http::INTERNAL_HOST_SUFFIX;

/// The suffix of hosts reached through local service chaining.
/// A generated manifest: the component it holds and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitManifest {
    pub component: String,
    pub file_name: String,
    pub text: String,
}

/// `to` relative to the directory `from` (both absolute, or both relative to one place).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part.as_os_str());
    }
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

/// The names of the `{{ variables }}` a text uses.
fn templates_in(text: &str, names: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
}

fn as_table<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a Table> {
    value
        .and_then(Value::as_table)
        .with_context(|| format!("the manifest has no table `{what}`"))
}

/// Every component of the manifest at `manifest_dir` as an app of its own, for manifests
/// kept in `out_dir` (paths inside are rewritten to reach the same files from there).
pub fn split(
    manifest_text: &str,
    manifest_dir: &Path,
    out_dir: &Path,
) -> Result<Vec<SplitManifest>> {
    let manifest: Table = toml::from_str(manifest_text).context("invalid manifest")?;
    let application = as_table(manifest.get("application"), "application")?;
    let app_name = application
        .get("name")
        .and_then(Value::as_str)
        .context("the application has no name")?;
    let variables = manifest
        .get("variables")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    let components = as_table(manifest.get("component"), "component")?;
    let app_dir = relative(out_dir, manifest_dir);
    let mut manifests = Vec::new();
    for (id, component) in components {
        let mut component = component
            .as_table()
            .with_context(|| format!("component `{id}` is not a table"))?
            .clone();
        let mut used = BTreeSet::new();
        for key in ["variables", "allowed_outbound_hosts"] {
            if let Some(value) = component.get(key) {
                templates_in(&value.to_string(), &mut used);
            }
        }
        let mut own_variables = Table::new();
        for name in &used {
            let Some(declared) = variables.get(name).and_then(Value::as_table) else {
                bail!("component `{id}` uses variable `{name}`, which the app does not declare");
            };
            let chained = declared
                .get("default")
                .and_then(Value::as_str)
                .is_some_and(|default| default.contains(INTERNAL_HOST_SUFFIX));
            let mut declared = declared.clone();
            if chained {
                declared.remove("default");
                declared.insert("required".into(), Value::Boolean(true));
            }
            own_variables.insert(name.clone(), Value::Table(declared));
        }
        let source = component
            .get("source")
            .and_then(Value::as_str)
            .with_context(|| format!("component `{id}` has no source"))?;
        component.insert(
            "source".into(),
            Value::String(app_dir.join(source).to_string_lossy().into_owned()),
        );
        if let Some(Value::Table(build)) = component.get_mut("build") {
            let workdir = build
                .get("workdir")
                .and_then(Value::as_str)
                .map_or(app_dir.clone(), |workdir| app_dir.join(workdir));
            build.insert(
                "workdir".into(),
                Value::String(workdir.to_string_lossy().into_owned()),
            );
        }
        let mut app = Table::new();
        app.insert(
            "name".into(),
            Value::String(format!("{app_name}-{}", id.trim_end_matches("-service"))),
        );
        for key in ["version", "description"] {
            if let Some(value) = application.get(key) {
                app.insert(key.into(), value.clone());
            }
        }
        let mut trigger = Table::new();
        trigger.insert("route".into(), Value::String("/...".into()));
        trigger.insert("component".into(), Value::String(id.clone()));
        let mut http = Table::new();
        http.insert("http".into(), Value::Array(vec![Value::Table(trigger)]));
        let mut components = Table::new();
        components.insert(id.clone(), Value::Table(component));
        let mut split = Table::new();
        split.insert("spin_manifest_version".into(), Value::Integer(2));
        split.insert("application".into(), Value::Table(app));
        split.insert("variables".into(), Value::Table(own_variables));
        split.insert("trigger".into(), Value::Table(http));
        split.insert("component".into(), Value::Table(components));
        let text = format!(
            "# `{id}` as a Spin app of its own, generated from spin.toml by\n\
             # `cargo run -p storefront-runner -- split`; edit spin.toml, not this file.\n\n{}",
            toml::to_string_pretty(&split)?
        );
        manifests.push(SplitManifest {
            component: id.clone(),
            file_name: format!("{id}.toml"),
            text,
        });
    }
    Ok(manifests)
}

/// Writes [`split`]'s manifests into `out_dir`.
pub fn write_split(manifest_path: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest_dir = crate::buildcmd::app_directory(manifest_path)?;
    let out_dir = std::path::absolute(out_dir)?;
    std::fs::create_dir_all(&out_dir)?;
    let mut written = Vec::new();
    for manifest in split(&text, &manifest_dir, &out_dir)? {
        let path = out_dir.join(&manifest.file_name);
        std::fs::write(&path, manifest.text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::APP;

    fn split_of(name: &str) -> Table {
        let manifests =
            split(APP, Path::new("/app"), Path::new("/app/deploy/split")).expect("splits");
        let found = manifests
            .into_iter()
            .find(|m| m.component == name)
            .expect("component");
        toml::from_str(&found.text).expect("valid toml")
    }

    #[test]
    fn each_component_is_public_alone_with_the_variables_it_uses() {
        let front = split_of("front");

        assert_eq!(front["application"]["name"].as_str(), Some("shop-front"));
        assert_eq!(front["trigger"]["http"][0]["route"].as_str(), Some("/..."));
        let variables = front["variables"].as_table().expect("variables");
        assert_eq!(
            variables.keys().collect::<Vec<_>>(),
            ["back_url", "secret"],
            "only what the component uses"
        );
        assert_eq!(variables["back_url"]["required"].as_bool(), Some(true));
        assert!(variables["back_url"].get("default").is_none());
        assert_eq!(variables["secret"]["secret"].as_bool(), Some(true));
    }

    #[test]
    fn paths_reach_the_same_files_from_the_new_manifest() {
        let front = split_of("front");
        let component = &front["component"]["front"];

        assert_eq!(
            component["source"].as_str(),
            Some("../../target/front.wasm")
        );
        assert_eq!(component["build"]["workdir"].as_str(), Some("../.."));
        assert_eq!(
            component["build"]["command"].as_str(),
            Some("cargo build -p front")
        );
        let back = split_of("back");
        assert_eq!(
            back["component"]["back"]["sqlite_databases"][0].as_str(),
            Some("data")
        );
        assert_eq!(back["variables"]["level"]["default"].as_str(), Some("info"));
    }

    #[test]
    fn relative_paths_climb_out_of_the_output_directory() {
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a")),
            Path::new("../..")
        );
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), Path::new("."));
        assert_eq!(
            relative(Path::new("/a/x"), Path::new("/a/y/z")),
            Path::new("../y/z")
        );
    }
}
