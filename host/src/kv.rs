//! `fermyon:spin/key-value@2.0.0`, stored in SQLite the way Spin's default store is.

use std::path::Path;

use rusqlite::OptionalExtension;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::sqlite::open_database;
use crate::state::{InterfaceView, KeyValueState};

/// The host side of a `store` resource.
pub struct Store {
    label: String,
    loan: crate::pool::Pooled,
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

/// Opens the backing file and makes sure its table exists.
pub fn open_backing(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = open_database(path)?;
    connection.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
        [],
    )?;
    Ok(connection)
}

impl InterfaceView<'_, KeyValueState> {
    async fn with_store<T: Send + 'static>(
        &mut self,
        store: &Resource<Store>,
        operation: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> wasmtime::Result<Result<T, Error>> {
        let (connection, label) = {
            let store = self.table.get(store)?;
            let Some(connection) = store.loan.handle() else {
                return Ok(Err(other("store closed")));
            };
            (connection, store.label.clone())
        };
        let result = tokio::task::spawn_blocking(move || {
            let guard = connection.lock().map_err(|_| other("store poisoned"))?;
            operation(&guard, &label).map_err(other)
        })
        .await?;
        Ok(result)
    }
}

impl key_value::Host for InterfaceView<'_, KeyValueState> {}

impl key_value::HostStore for InterfaceView<'_, KeyValueState> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        let scope = &self.state.0;
        if !scope.component().key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let path = scope.app().storage().key_value_path(&label);
        match scope
            .app()
            .connection_pool()
            .take(path, open_backing)
            .await?
        {
            Ok(loan) => Ok(Ok(self.table.push(Store { label, loan })?)),
            Err(error) => Ok(Err(other(error))),
        }
    }

    async fn get(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.with_store(&store, move |db, label| {
            db.prepare_cached("SELECT value FROM spin_key_value WHERE store = ? AND key = ?")?
                .query_row((label, &key), |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn set(
        &mut self,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.with_store(&store, move |db, label| {
            db.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((label, &key, &value))
            .map(drop)
        })
        .await
    }

    async fn delete(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.with_store(&store, move |db, label| {
            db.prepare_cached("DELETE FROM spin_key_value WHERE store = ? AND key = ?")?
                .execute((label, &key))
                .map(drop)
        })
        .await
    }

    async fn exists(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        self.with_store(&store, move |db, label| {
            db.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ? AND key = ?")?
                .exists((label, &key))
        })
        .await
    }

    async fn get_keys(
        &mut self,
        store: Resource<Store>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.with_store(&store, move |db, label| {
            db.prepare_cached("SELECT key FROM spin_key_value WHERE store = ? ORDER BY key")?
                .query_map([label], |row| row.get(0))?
                .collect()
        })
        .await
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
