//! The subset of the Spin manifest (v2) that the runner understands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A parsed `spin.toml`.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// An application variable: either required or with a default, possibly secret.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    pub route: RouteDecl,
    pub component: String,
}

/// `route = "/path/..."` or `route = { private = true }`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum RouteDecl {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
pub struct ComponentDecl {
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
}

#[derive(Debug, Deserialize)]
pub struct BuildDecl {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Manifest {
    /// Reads and checks a manifest; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        if manifest.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (only 2)",
                manifest.spin_manifest_version
            );
        }
        for trigger in &manifest.trigger.http {
            if !manifest.component.contains_key(&trigger.component) {
                bail!(
                    "trigger refers to undefined component `{}`",
                    trigger.component
                );
            }
            if let RouteDecl::Private { private: false } = trigger.route {
                bail!(
                    "component `{}`: a route table must be `{{ private = true }}` or a path",
                    trigger.component
                );
            }
        }
        for (name, decl) in &manifest.variables {
            check_variable_name(name)?;
            if decl.required && decl.default.is_some() {
                bail!("variable `{name}` cannot be both required and have a default");
            }
            if !decl.required && decl.default.is_none() {
                bail!("variable `{name}` must be required or have a default");
            }
        }
        for (id, component) in &manifest.component {
            for name in component.variables.keys() {
                check_variable_name(name).with_context(|| format!("component `{id}`"))?;
            }
        }
        Ok(manifest)
    }
}

/// Spin variable names: lower-case ASCII letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!("invalid variable name `{name}`: use lower-case letters, digits and `_`");
    }
    Ok(())
}

/// Resolves a path from the manifest against the manifest's directory.
pub fn resolve(base: &Path, relative: &str) -> PathBuf {
    let path = Path::new(relative);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small app for tests: a public `front` that calls a private `back` by service
    /// chaining, variables it uses (one secret) and one nothing uses.
    pub(crate) const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "shop"
version = "1.0.0"
[variables]
secret = { required = true, secret = true }
level = { default = "info" }
back_url = { default = "http://back.spin.internal" }
unused = { default = "x" }
[[trigger.http]]
route = "/..."
component = "front"
[[trigger.http]]
route = { private = true }
component = "back"
[component.front]
source = "target/front.wasm"
allowed_outbound_hosts = ["{{ back_url }}"]
[component.front.variables]
secret = "{{ secret }}"
back_url = "{{ back_url }}"
[component.front.build]
command = "cargo build -p front"
[component.back]
source = "target/back.wasm"
sqlite_databases = ["data"]
[component.back.variables]
level = "{{ level }}"
"#;

    #[test]
    fn parses_public_and_private_routes() {
        let manifest = Manifest::parse(APP).expect("valid manifest");
        assert_eq!(manifest.trigger.http.len(), 2);
        assert_eq!(
            manifest.trigger.http[0].route,
            RouteDecl::Path("/...".into())
        );
        assert_eq!(
            manifest.trigger.http[1].route,
            RouteDecl::Private { private: true }
        );
        assert_eq!(manifest.component["back"].sqlite_databases, vec!["data"]);
    }

    #[test]
    fn rejects_trigger_for_unknown_component() {
        let text = APP.replace("component = \"back\"", "component = \"nowhere\"");
        assert!(Manifest::parse(&text).is_err());
    }

    #[test]
    fn rejects_variable_both_required_and_defaulted() {
        let text = APP.replace(
            "secret = { required = true, secret = true }",
            "secret = { required = true, default = \"x\" }",
        );
        assert!(Manifest::parse(&text).is_err());
    }

    #[test]
    fn variable_names_follow_spin_rules() {
        assert!(check_variable_name("jwt_secret").is_ok());
        assert!(check_variable_name("a1").is_ok());
        assert!(check_variable_name("JWT").is_err());
        assert!(check_variable_name("1a").is_err());
        assert!(check_variable_name("a-b").is_err());
        assert!(check_variable_name("").is_err());
    }
}
