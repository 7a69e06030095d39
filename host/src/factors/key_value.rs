//! `fermyon:spin/key-value@2.0.0`, on the two backends Spin's runtime config names most:
//! `spin` (a SQLite file in Spin's layout, one connection per file kept as long as the app
//! runs, so a call costs microseconds, as under Spin) and `redis` (`url = "redis://host:port[/db]"`, one
//! multiplexed connection made on first use). Stores are built once per app and shared by
//! every component that declares the label.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::OptionalExtension;
use tokio::sync::OnceCell;
use wasmtime::component::Resource;

use super::InterfaceView;
use super::bindings::fermyon::spin::key_value::{self, Error};
use crate::stats::{HostCall, HostCalls};

/// Where a store keeps its data.
pub enum Backend {
    /// Spin's default: a SQLite file, rows of `spin_key_value(store, key, value)`.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    /// A Redis server (one database of it).
    Redis {
        client: redis::Client,
        connection: OnceCell<redis::aio::MultiplexedConnection>,
    },
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

/// Runs `operation` on the store file's connection, on the blocking pool.
async fn on_sqlite<T: Send + 'static>(
    connection: &Arc<Mutex<rusqlite::Connection>>,
    operation: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Error> {
    let connection = connection.clone();
    tokio::task::spawn_blocking(move || {
        operation(&connection.lock().unwrap_or_else(PoisonError::into_inner)).map_err(other)
    })
    .await
    .map_err(other)?
}

/// Sends `command` on the server's one multiplexed connection, made on first use.
async fn on_redis<T: redis::FromRedisValue>(
    client: &redis::Client,
    connection: &OnceCell<redis::aio::MultiplexedConnection>,
    command: &redis::Cmd,
) -> Result<T, Error> {
    let mut connection = connection
        .get_or_try_init(|| client.get_multiplexed_async_connection())
        .await
        .cloned()
        .map_err(other)?;
    command.query_async(&mut connection).await.map_err(other)
}

impl Backend {
    /// A SQLite file in Spin's layout, created if needed.
    pub fn sqlite_file(path: &Path) -> rusqlite::Result<Self> {
        let connection = super::sqlite::open_database(path)?;
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(connection))))
    }

    /// A Redis server; nothing is sent until the first call.
    pub fn redis(url: &str) -> redis::RedisResult<Self> {
        Ok(Self::Redis {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
        })
    }

    async fn get(&self, store: String, key: String) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Backend::Redis { client, connection } => {
                on_redis(client, connection, redis::cmd("GET").arg(key)).await
            }
            Backend::Sqlite(db) => {
                on_sqlite(db, move |db| {
                    db.prepare_cached(
                        "SELECT value FROM spin_key_value WHERE store = ? AND key = ?",
                    )?
                    .query_row((store, key), |row| row.get(0))
                    .optional()
                })
                .await
            }
        }
    }

    async fn set(&self, store: String, key: String, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Backend::Redis { client, connection } => {
                on_redis(client, connection, redis::cmd("SET").arg(key).arg(value)).await
            }
            Backend::Sqlite(db) => {
                on_sqlite(db, move |db| {
                    db.prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute((store, key, value))
                    .map(drop)
                })
                .await
            }
        }
    }

    async fn delete(&self, store: String, key: String) -> Result<(), Error> {
        match self {
            Backend::Redis { client, connection } => {
                on_redis(client, connection, redis::cmd("DEL").arg(key)).await
            }
            Backend::Sqlite(db) => {
                on_sqlite(db, move |db| {
                    db.prepare_cached("DELETE FROM spin_key_value WHERE store = ? AND key = ?")?
                        .execute((store, key))
                        .map(drop)
                })
                .await
            }
        }
    }

    async fn exists(&self, store: String, key: String) -> Result<bool, Error> {
        match self {
            Backend::Redis { client, connection } => {
                on_redis(client, connection, redis::cmd("EXISTS").arg(key)).await
            }
            Backend::Sqlite(db) => {
                on_sqlite(db, move |db| {
                    db.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ? AND key = ?")?
                        .exists((store, key))
                })
                .await
            }
        }
    }

    async fn keys(&self, store: String) -> Result<Vec<String>, Error> {
        match self {
            Backend::Redis { client, connection } => {
                on_redis(client, connection, redis::cmd("KEYS").arg("*")).await
            }
            Backend::Sqlite(db) => {
                on_sqlite(db, move |db| {
                    db.prepare_cached(
                        "SELECT key FROM spin_key_value WHERE store = ? ORDER BY key",
                    )?
                    .query_map([store], |row| row.get(0))?
                    .collect()
                })
                .await
            }
        }
    }
}

/// The stores one component declared, by label.
pub struct KeyValueStores {
    stores: HashMap<String, Arc<Backend>>,
}

impl KeyValueStores {
    pub fn new(stores: HashMap<String, Arc<Backend>>) -> Self {
        Self { stores }
    }
}

/// One instance's view of key-value.
pub(crate) struct KeyValueState {
    pub(crate) stores: Arc<KeyValueStores>,
    pub(crate) calls: Arc<HostCalls>,
}

/// The host side of a `store` resource.
pub struct OpenStore {
    label: String,
    backend: Arc<Backend>,
}

impl InterfaceView<'_, KeyValueState> {
    fn store(&mut self, store: &Resource<OpenStore>) -> wasmtime::Result<(Arc<Backend>, String)> {
        self.state.calls.count(HostCall::KeyValueCall);
        let store = self.table.get(store)?;
        Ok((store.backend.clone(), store.label.clone()))
    }
}

impl key_value::Host for InterfaceView<'_, KeyValueState> {}

impl key_value::HostStore for InterfaceView<'_, KeyValueState> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        self.state.calls.count(HostCall::KeyValueOpen);
        let Some(backend) = self.state.stores.stores.get(&label).cloned() else {
            return Ok(Err(Error::AccessDenied));
        };
        Ok(Ok(self.table.push(OpenStore { label, backend })?))
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let (backend, label) = self.store(&store)?;
        Ok(backend.get(label, key).await)
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (backend, label) = self.store(&store)?;
        Ok(backend.set(label, key, value).await)
    }

    async fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (backend, label) = self.store(&store)?;
        Ok(backend.delete(label, key).await)
    }

    async fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let (backend, label) = self.store(&store)?;
        Ok(backend.exists(label, key).await)
    }

    async fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let (backend, label) = self.store(&store)?;
        Ok(backend.keys(label).await)
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_store_keeps_labels_apart_in_one_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Arc::new(Backend::sqlite_file(&dir.path().join("kv.db")).expect("open"));

        backend
            .set("a".into(), "k".into(), b"1".to_vec())
            .await
            .expect("set a");
        backend
            .set("b".into(), "k".into(), b"2".to_vec())
            .await
            .expect("set b");
        backend
            .set("a".into(), "k".into(), b"3".to_vec())
            .await
            .expect("replace a");

        assert_eq!(
            backend.get("a".into(), "k".into()).await.expect("get"),
            Some(b"3".to_vec())
        );
        assert_eq!(
            backend.get("b".into(), "k".into()).await.expect("get"),
            Some(b"2".to_vec())
        );
        assert_eq!(
            backend.keys("a".into()).await.expect("keys"),
            vec!["k".to_string()]
        );
        backend
            .delete("a".into(), "k".into())
            .await
            .expect("delete");
        assert!(
            !backend
                .exists("a".into(), "k".into())
                .await
                .expect("exists")
        );
        assert!(
            backend
                .exists("b".into(), "k".into())
                .await
                .expect("exists")
        );
    }

    #[test]
    fn a_redis_url_is_checked_when_the_app_loads_not_at_the_first_call() {
        assert!(Backend::redis("redis://127.0.0.1:6379/3").is_ok());
        assert!(Backend::redis("not a url").is_err());
    }
}
