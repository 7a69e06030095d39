//! `fermyon:spin/sqlite@2.0.0` on rusqlite. Every statement runs on the blocking pool so the
//! async executor threads never wait on disk or on a lock.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::state::RequestState;

/// How long a writer waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The host side of a `connection` resource.
pub struct Connection {
    inner: Arc<Mutex<rusqlite::Connection>>,
}

/// Opens a database file in WAL mode with a busy timeout, creating it if needed.
pub fn open_database(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
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

/// Runs one statement; statements that return no rows still run to completion.
fn execute_blocking(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut prepared = connection.prepare_cached(statement).map_err(io_error)?;
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

impl sqlite::Host for RequestState {}

impl sqlite::HostConnection for RequestState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.component().sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let path = self.app().storage().sqlite_path(&database);
        let opened = tokio::task::spawn_blocking(move || open_database(&path)).await?;
        match opened {
            Ok(connection) => {
                let resource = self.table.push(Connection {
                    inner: Arc::new(Mutex::new(connection)),
                })?;
                Ok(Ok(resource))
            }
            Err(error) => Ok(Err(io_error(error))),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let inner = match self.table.get(&connection) {
            Ok(connection) => connection.inner.clone(),
            Err(_) => return Ok(Err(Error::InvalidConnection)),
        };
        let result = tokio::task::spawn_blocking(move || {
            let guard = inner.lock().map_err(|_| io_error("connection poisoned"))?;
            execute_blocking(&guard, &statement, parameters)
        })
        .await?;
        Ok(result)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executes_statements_with_parameters_and_returns_typed_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = open_database(&dir.path().join("t.db")).expect("open");
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
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = open_database(&dir.path().join("t.db")).expect("open");
        execute_blocking(&connection, "CREATE TABLE s (n INTEGER)", vec![]).expect("create");
        execute_blocking(&connection, "INSERT INTO s VALUES (1)", vec![]).expect("insert");
        let changed = execute_blocking(
            &connection,
            "UPDATE s SET n = n - 1 WHERE n >= 1 RETURNING n",
            vec![],
        )
        .expect("update");
        assert_eq!(changed.rows.len(), 1);
        let unchanged = execute_blocking(
            &connection,
            "UPDATE s SET n = n - 1 WHERE n >= 1 RETURNING n",
            vec![],
        )
        .expect("update");
        assert!(unchanged.rows.is_empty());
    }

    #[test]
    fn sql_errors_become_io_errors_not_traps() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = open_database(&dir.path().join("t.db")).expect("open");
        let error = execute_blocking(&connection, "SELEC nonsense", vec![]).expect_err("bad sql");
        assert!(matches!(error, Error::Io(_)));
    }
}
