//! Where each SQLite database and key-value store lives: `--runtime-config-file` entries, or
//! files under the state directory by default (as `spin up` does).
//!
//! Relative paths resolve as Spin resolves them: a SQLite `path` against the working
//! directory of the process, a key-value `path` against the runtime config file's directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct RuntimeConfigFile {
    #[serde(default)]
    sqlite_database: HashMap<String, StoreEntry>,
    #[serde(default)]
    key_value_store: HashMap<String, StoreEntry>,
}

#[derive(Debug, Deserialize)]
struct StoreEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
}

/// Resolved storage locations.
#[derive(Debug, Clone)]
pub struct StorageLayout {
    state_dir: PathBuf,
    sqlite: HashMap<String, PathBuf>,
    key_value: HashMap<String, PathBuf>,
}

impl StorageLayout {
    pub fn new(state_dir: &Path, runtime_config: Option<&Path>) -> Result<Self> {
        let mut layout = Self {
            state_dir: state_dir.to_path_buf(),
            sqlite: HashMap::new(),
            key_value: HashMap::new(),
        };
        let Some(config_path) = runtime_config else {
            return Ok(layout);
        };
        let text = std::fs::read_to_string(config_path)
            .with_context(|| format!("cannot read runtime config {}", config_path.display()))?;
        let file: RuntimeConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid runtime config {}", config_path.display()))?;
        let config_dir = config_path.parent().unwrap_or(Path::new("."));
        let working_dir = std::env::current_dir().context("no current directory")?;
        for (table, entries, target, base) in [
            (
                "sqlite_database",
                file.sqlite_database,
                &mut layout.sqlite,
                working_dir.as_path(),
            ),
            (
                "key_value_store",
                file.key_value_store,
                &mut layout.key_value,
                config_dir,
            ),
        ] {
            for (label, entry) in entries {
                if entry.kind != "spin" {
                    bail!(
                        "[{table}.{label}]: type `{}` is not supported by this runner (only `spin`)",
                        entry.kind
                    );
                }
                let path = entry
                    .path
                    .with_context(|| format!("[{table}.{label}] needs a `path`"))?;
                target.insert(label, crate::manifest::resolve(base, &path));
            }
        }
        Ok(layout)
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The file behind a SQLite label: configured, or `<state>/<label>.db`.
    pub fn sqlite_path(&self, label: &str) -> PathBuf {
        self.sqlite.get(label).cloned().unwrap_or_else(|| {
            let file = if label == "default" {
                "sqlite_db.db".to_string()
            } else {
                format!("{label}.db")
            };
            self.state_dir.join(file)
        })
    }

    /// The file behind a key-value label: configured, or the shared `<state>/sqlite_key_value.db`.
    pub fn key_value_path(&self, label: &str) -> PathBuf {
        self.key_value
            .get(label)
            .cloned()
            .unwrap_or_else(|| self.state_dir.join("sqlite_key_value.db"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_live_in_the_state_dir() {
        let layout = StorageLayout::new(Path::new("/state"), None).expect("no config");
        assert_eq!(layout.sqlite_path("users"), Path::new("/state/users.db"));
        assert_eq!(
            layout.sqlite_path("default"),
            Path::new("/state/sqlite_db.db")
        );
        assert_eq!(
            layout.key_value_path("default"),
            Path::new("/state/sqlite_key_value.db")
        );
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_working_directory_and_key_value_to_the_config() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("runtime-config.toml");
        std::fs::write(
            &config,
            "[sqlite_database.users]\ntype = \"spin\"\npath = \"data/u.db\"\n\
             [key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
        )
        .expect("write config");

        let layout = StorageLayout::new(Path::new("/state"), Some(&config)).expect("valid");

        let working_dir = std::env::current_dir().expect("working dir");
        assert_eq!(layout.sqlite_path("users"), working_dir.join("data/u.db"));
        assert_eq!(
            layout.key_value_path("default"),
            dir.path().join("data/kv.db")
        );
        assert_eq!(layout.sqlite_path("other"), Path::new("/state/other.db"));
    }

    #[test]
    fn unsupported_store_types_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("rc.toml");
        std::fs::write(&config, "[sqlite_database.users]\ntype = \"libsql\"\n").expect("write");
        assert!(StorageLayout::new(Path::new("/state"), Some(&config)).is_err());
    }
}
