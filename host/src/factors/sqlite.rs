//! `fermyon:spin/sqlite@2.0.0` on rusqlite, as Spin's in-process SQLite provides it: every
//! `open` is a new connection (and so a new schema load at its first statement), nothing is
//! pooled, and locks are SQLite's own (its busy handler, rusqlite's default 5 s). Opening,
//! every statement and closing run on the blocking pool, never on a thread that serves
//! requests. What the runner measures is therefore what a component costs under Spin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use super::InterfaceView;
use super::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::stats::{HostCall, HostCalls};

/// The databases one component declared, by label, and where each lives.
pub struct SqliteDatabases {
    paths: HashMap<String, PathBuf>,
}

impl SqliteDatabases {
    pub fn new(paths: HashMap<String, PathBuf>) -> Self {
        Self { paths }
    }
}

/// One instance's view of SQLite.
pub(crate) struct SqliteState {
    pub(crate) databases: Arc<SqliteDatabases>,
    pub(crate) calls: Arc<HostCalls>,
}

/// The host side of a `connection` resource: a connection of its own.
pub struct Connection {
    inner: Arc<Mutex<rusqlite::Connection>>,
}

/// Opens a database file as Spin does, creating it (and its directory) if needed.
pub fn open_database(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    rusqlite::Connection::open(path)
}

fn io_error(error: impl std::fmt::Display) -> Error {
    Error::Io(error.to_string())
}

fn to_sql(value: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Integer(i) => Sql::Integer(i),
        Value::Real(r) => Sql::Real(r),
        Value::Text(t) => Sql::Text(t),
        Value::Blob(b) => Sql::Blob(b),
        Value::Null => Sql::Null,
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Runs one statement to completion (statements that return no rows included) and collects
/// its rows.
fn execute_blocking(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut prepared = connection.prepare(statement).map_err(io_error)?;
    let columns: Vec<String> = prepared
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let parameters: Vec<rusqlite::types::Value> = parameters.into_iter().map(to_sql).collect();
    let mut rows = prepared
        .query(rusqlite::params_from_iter(parameters))
        .map_err(io_error)?;
    let mut results = Vec::new();
    while let Some(row) = rows.next().map_err(io_error)? {
        let values = (0..columns.len())
            .map(|index| row.get_ref(index).map(from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(io_error)?;
        results.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: results,
    })
}

impl sqlite::Host for InterfaceView<'_, SqliteState> {}

impl sqlite::HostConnection for InterfaceView<'_, SqliteState> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        self.state.calls.count(HostCall::SqliteOpen);
        let Some(path) = self.state.databases.paths.get(&database).cloned() else {
            return Ok(Err(Error::AccessDenied));
        };
        match tokio::task::spawn_blocking(move || open_database(&path)).await? {
            Ok(connection) => Ok(Ok(self.table.push(Connection {
                inner: Arc::new(Mutex::new(connection)),
            })?)),
            Err(error) => Ok(Err(io_error(error))),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        self.state.calls.count(HostCall::SqliteStatement);
        let Ok(connection) = self.table.get(&connection) else {
            return Ok(Err(Error::InvalidConnection));
        };
        let inner = connection.inner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let guard = inner.lock().unwrap_or_else(PoisonError::into_inner);
            execute_blocking(&guard, &statement, parameters)
        })
        .await?;
        Ok(result)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        let connection = self.table.delete(connection)?;
        // Closing may checkpoint the write-ahead log: file I/O, so not on this thread.
        tokio::task::spawn_blocking(move || drop(connection));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_temporary() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = open_database(&dir.path().join("nested/t.db")).expect("open");
        (dir, connection)
    }

    #[test]
    fn executes_statements_with_parameters_and_returns_typed_rows() {
        let (_dir, connection) = open_temporary();
        execute_blocking(
            &connection,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB)",
            vec![],
        )
        .expect("create");
        execute_blocking(
            &connection,
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            vec![
                Value::Integer(7),
                Value::Real(1.5),
                Value::Text("x".into()),
                Value::Blob(vec![1, 2]),
            ],
        )
        .expect("insert");

        let result = execute_blocking(&connection, "SELECT i, r, s, b, NULL AS n FROM t", vec![])
            .expect("select");

        assert_eq!(result.columns, vec!["i", "r", "s", "b", "n"]);
        assert_eq!(result.rows.len(), 1);
        let values = &result.rows[0].values;
        assert!(matches!(values[0], Value::Integer(7)));
        assert!(matches!(values[2], Value::Text(ref s) if s == "x"));
        assert!(matches!(values[4], Value::Null));
    }

    #[test]
    fn returning_clause_reports_what_an_update_changed() {
        let (_dir, connection) = open_temporary();
        execute_blocking(&connection, "CREATE TABLE s (n INTEGER)", vec![]).expect("create");
        execute_blocking(&connection, "INSERT INTO s VALUES (1)", vec![]).expect("insert");
        let update = "UPDATE s SET n = n - 1 WHERE n >= 1 RETURNING n";

        let changed = execute_blocking(&connection, update, vec![]).expect("update");
        let unchanged = execute_blocking(&connection, update, vec![]).expect("update");

        assert_eq!(changed.rows.len(), 1);
        assert!(unchanged.rows.is_empty());
    }

    #[test]
    fn sql_errors_become_io_errors_not_traps() {
        let (_dir, connection) = open_temporary();
        let error = execute_blocking(&connection, "SELEC nonsense", vec![]).expect_err("bad sql");
        assert!(matches!(error, Error::Io(_)));
    }

    #[test]
    fn a_writer_waits_in_sqlites_busy_handler_as_under_spin() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lock.db");
        let holder = open_database(&path).expect("open holder");
        let waiter = open_database(&path).expect("open waiter");
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .expect("holder takes the write lock");

        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            holder.execute_batch("COMMIT").expect("commit");
        });
        let waited = waiter.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT;");
        release.join().expect("holder thread");

        assert!(waited.is_ok(), "{waited:?}");
        let rows: i64 = waiter
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(rows, 2);
    }
}
