//! Which host the suite runs on and where the app's data lives, from the environment, and the
//! runtime config (absolute paths) that gives both hosts the same layout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// The SQLite labels of `spin.toml` (and Spin's `default`).
pub const SQLITE_LABELS: [&str; 6] = [
    "users",
    "products",
    "orders",
    "notifications",
    "edge",
    "default",
];

/// The host that serves the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `storefront-runner`, in the test process.
    Runner,
    /// The Spin CLI, as a child process.
    Spin,
}

impl HostKind {
    /// `STOREFRONT_E2E_HOST`: `runner` (default) or `spin`.
    pub fn from_env() -> Self {
        choice_from_env(
            "STOREFRONT_E2E_HOST",
            &[("runner", Self::Runner), ("spin", Self::Spin)],
        )
    }
}

/// The value the environment variable `name` spells among `choices`: the first choice when
/// it is unset, a panic naming the choices when it spells none of them.
pub(crate) fn choice_from_env<T: Copy>(name: &str, choices: &[(&str, T)]) -> T {
    let Ok(spelled) = std::env::var(name) else {
        return choices[0].1;
    };
    choices
        .iter()
        .find(|(spelling, _)| *spelling == spelled)
        .map(|(_, value)| *value)
        .unwrap_or_else(|| {
            let spellings: Vec<String> = choices.iter().map(|(s, _)| format!("`{s}`")).collect();
            panic!("{name} must be {}, not `{spelled}`", spellings.join(" or "))
        })
}

/// Where the SQLite databases and the key-value store live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// Every SQLite label in one file (as on a Fermyon Cloud plan with one database).
    pub one_database_file: bool,
    /// Key-value on this Redis server (`redis://host:port`) instead of a file.
    pub redis: Option<String>,
}

/// The file all labels share in one-file mode.
const SHARED_DATABASE: &str = "storefront.db";
/// Name of the runtime config the harness writes into an app's state directory.
const RUNTIME_CONFIG: &str = "runtime-config.toml";

impl Storage {
    /// `STOREFRONT_E2E_SQLITE` (`per-label` or `one-file`) and `STOREFRONT_E2E_REDIS_URL`.
    pub fn from_env() -> Self {
        let one_database_file = choice_from_env(
            "STOREFRONT_E2E_SQLITE",
            &[("per-label", false), ("one-file", true)],
        );
        let redis = std::env::var("STOREFRONT_E2E_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty());
        Self {
            one_database_file,
            redis,
        }
    }

    /// The SQLite file behind `label` in an app whose state is `state`.
    pub fn database_path(&self, state: &Path, label: &str) -> PathBuf {
        if self.one_database_file {
            state.join(SHARED_DATABASE)
        } else if label == "default" {
            state.join("sqlite_db.db")
        } else {
            state.join(format!("{label}.db"))
        }
    }

    /// The runtime config of the app whose state is `state`: written on first use (a fresh
    /// Redis database is taken then), and the same file for restarts and replicas after.
    pub fn runtime_config(&self, state: &Path) -> Result<PathBuf> {
        let path = state.join(RUNTIME_CONFIG);
        if path.exists() {
            return Ok(path);
        }
        let mut text = String::new();
        for label in SQLITE_LABELS {
            text.push_str(&format!(
                "[sqlite_database.{label}]\ntype = \"spin\"\npath = {:?}\n\n",
                self.database_path(state, label).display().to_string()
            ));
        }
        match &self.redis {
            Some(server) => {
                let url = fresh_redis_database(server)?;
                text.push_str(&format!(
                    "[key_value_store.default]\ntype = \"redis\"\nurl = {url:?}\n"
                ));
            }
            None => text.push_str(&format!(
                "[key_value_store.default]\ntype = \"spin\"\npath = {:?}\n",
                state.join("sqlite_key_value.db").display().to_string()
            )),
        }
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Storage {
    /// Runs `statement` on the database behind `label`, waiting for the app's writers as
    /// long as a host would, and returns the rows it changed.
    pub fn execute_sql(
        &self,
        state: &Path,
        label: &str,
        statement: &str,
        parameters: Vec<rusqlite::types::Value>,
    ) -> Result<usize> {
        let connection = open_outside(&self.database_path(state, label))?;
        Ok(connection.execute(statement, rusqlite::params_from_iter(parameters))?)
    }

    /// The single number that `query` (a `SELECT`) reads from the database behind `label`.
    pub fn query_i64(&self, state: &Path, label: &str, query: &str) -> Result<i64> {
        let connection = open_outside(&self.database_path(state, label))?;
        Ok(connection.query_row(query, [], |row| row.get(0))?)
    }
}

/// A connection to one of the app's SQLite files that waits for a lock as long as the
/// runner does.
fn open_outside(file: &Path) -> Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(file)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(connection)
}

/// A Redis database of its own for one app (tests run at once must not share rate-limit
/// counters), emptied first: `redis://host:port/<n>`. The server needs enough databases
/// (`redis-server --databases 1000`).
fn fresh_redis_database(server: &str) -> Result<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let address = server
        .strip_prefix("redis://")
        .context("STOREFRONT_E2E_REDIS_URL must be redis://host:port")?
        .trim_end_matches('/');
    // Apps of one test process run at once and get a database each; test processes run one
    // after another, so emptying the database first is enough between them.
    let index = NEXT.fetch_add(1, Ordering::Relaxed) + 1;
    let mut connection = std::net::TcpStream::connect(address)
        .with_context(|| format!("cannot reach Redis at {address}"))?;
    connection.write_all(format!("SELECT {index}\r\nFLUSHDB\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 64];
    while reply.iter().filter(|b| **b == b'\n').count() < 2 {
        let read = connection.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        reply.extend_from_slice(&buffer[..read]);
    }
    let reply = String::from_utf8_lossy(&reply);
    if reply.lines().take(2).any(|line| !line.starts_with("+OK")) {
        bail!("Redis refused SELECT {index}/FLUSHDB: {reply}");
    }
    Ok(format!("redis://{address}/{index}"))
}
