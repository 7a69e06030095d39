//! Where each SQLite database and key-value store lives: `--runtime-config-file` entries, or
//! files under the state directory by default (as `spin up` does).
//!
//! Relative paths resolve as Spin resolves them: a SQLite `path` against the working
//! directory of the process, a key-value `path` against the runtime config file's directory.
//! SQLite databases are `type = "spin"` files; key-value stores are `type = "spin"` files or
//! `type = "redis"` servers (`url = "redis://host:port[/db]"`).

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
    #[serde(default)]
    url: Option<String>,
}

/// Where one key-value store lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValueLocation {
    /// A SQLite file in Spin's layout (`type = "spin"`).
    File(PathBuf),
    /// A Redis server (`type = "redis"`).
    Redis(String),
}

/// Resolved storage locations.
#[derive(Debug, Clone)]
pub struct StorageLayout {
    state_dir: PathBuf,
    sqlite: HashMap<String, PathBuf>,
    key_value: HashMap<String, KeyValueLocation>,
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
        for (label, entry) in file.sqlite_database {
            if entry.kind != "spin" {
                bail!(
                    "[sqlite_database.{label}]: type `{}` is not supported by this runner (only `spin`)",
                    entry.kind
                );
            }
            let path = entry
                .path
                .with_context(|| format!("[sqlite_database.{label}] needs a `path`"))?;
            layout
                .sqlite
                .insert(label, crate::manifest::resolve(&working_dir, &path));
        }
        for (label, entry) in file.key_value_store {
            let location = match entry.kind.as_str() {
                "spin" => {
                    let path = entry
                        .path
                        .with_context(|| format!("[key_value_store.{label}] needs a `path`"))?;
                    KeyValueLocation::File(crate::manifest::resolve(config_dir, &path))
                }
                "redis" => KeyValueLocation::Redis(
                    entry
                        .url
                        .with_context(|| format!("[key_value_store.{label}] needs a `url`"))?,
                ),
                other => bail!(
                    "[key_value_store.{label}]: type `{other}` is not supported by this runner (`spin` or `redis`)"
                ),
            };
            layout.key_value.insert(label, location);
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

    /// Where a key-value label lives: configured, or the shared `<state>/sqlite_key_value.db`.
    pub fn key_value_location(&self, label: &str) -> KeyValueLocation {
        self.key_value
            .get(label)
            .cloned()
            .unwrap_or_else(|| KeyValueLocation::File(self.state_dir.join("sqlite_key_value.db")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime config file holding `text`, in a directory of its own.
    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("runtime-config.toml");
        std::fs::write(&config, text).expect("write config");
        (dir, config)
    }

    /// The layout of state directory `/state` with the runtime config `config`.
    fn layout_with(config: &Path) -> Result<StorageLayout> {
        StorageLayout::new(Path::new("/state"), Some(config))
    }

    #[test]
    fn defaults_live_in_the_state_dir() {
        let layout = StorageLayout::new(Path::new("/state"), None).expect("no config");
        assert_eq!(layout.sqlite_path("users"), Path::new("/state/users.db"));
        assert_eq!(
            layout.sqlite_path("default"),
            Path::new("/state/sqlite_db.db")
        );
        assert_eq!(
            layout.key_value_location("default"),
            KeyValueLocation::File(PathBuf::from("/state/sqlite_key_value.db"))
        );
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_working_directory_and_key_value_to_the_config() {
        let (dir, config) = config_file(
            "[sqlite_database.users]\ntype = \"spin\"\npath = \"data/u.db\"\n\
             [key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
        );

        let layout = layout_with(&config).expect("valid");

        let working_dir = std::env::current_dir().expect("working dir");
        assert_eq!(layout.sqlite_path("users"), working_dir.join("data/u.db"));
        assert_eq!(
            layout.key_value_location("default"),
            KeyValueLocation::File(dir.path().join("data/kv.db"))
        );
        assert_eq!(layout.sqlite_path("other"), Path::new("/state/other.db"));
    }

    #[test]
    fn a_redis_key_value_store_takes_its_url() {
        let (_dir, config) = config_file(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/4\"\n",
        );
        let (_other, without_url) = config_file("[key_value_store.default]\ntype = \"redis\"\n");

        let layout = layout_with(&config).expect("valid");

        assert_eq!(
            layout.key_value_location("default"),
            KeyValueLocation::Redis("redis://127.0.0.1:6379/4".into())
        );
        assert!(layout_with(&without_url).is_err());
    }

    #[test]
    fn unsupported_store_types_are_refused() {
        let (_dir, config) = config_file("[sqlite_database.users]\ntype = \"libsql\"\n");
        assert!(layout_with(&config).is_err());
    }
}
