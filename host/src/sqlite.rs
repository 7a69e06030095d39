//! `fermyon:spin/sqlite@2.0.0` on rusqlite, over the runner's connection pool. Plain reads run
//! on the request's own thread (under WAL they never wait for a writer); everything else runs
//! on the blocking pool, writes after taking the file's writer slot, so async executor threads
//! never wait on a lock.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::state::{InterfaceView, SqliteState};

/// How much of a database file is memory-mapped for reads.
const MMAP_BYTES: i64 = 256 << 20;
/// Each connection's own page cache, in KiB (as SQLite's negative `cache_size` means).
const CACHE_KIB_PER_CONNECTION: i64 = -512;

/// How long a writer waits for another connection's write lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The host side of a `connection` resource: a pooled connection on loan.
pub struct Connection {
    loan: crate::pool::Pooled,
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
    // Reads come straight from one shared mapping of the file instead of each pooled
    // connection copying pages into its own cache, which kept up to 2 MiB per connection.
    connection.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    connection.pragma_update(None, "cache_size", CACHE_KIB_PER_CONNECTION)?;
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

/// Whether a prepared statement needs the file's writer lock: it writes, or it opens a write
/// transaction (SQLite counts every `BEGIN` as read-only).
fn needs_writer(prepared: &rusqlite::Statement<'_>, statement: &str) -> bool {
    if !prepared.readonly() {
        return true;
    }
    let mut words = statement.split_whitespace().map(str::to_ascii_uppercase);
    words.next().as_deref() == Some("BEGIN")
        && matches!(words.next().as_deref(), Some("IMMEDIATE" | "EXCLUSIVE"))
}

/// Whether a statement is a plain read that can run on the calling (async) thread: under WAL,
/// reads never wait for writers, and a point lookup costs less than handing it to the blocking
/// pool and back. Transaction control and pragmas always go to the blocking pool (a `COMMIT`
/// writes, and a pragma may do anything).
fn is_inline_read(prepared: &rusqlite::Statement<'_>, statement: &str) -> bool {
    let first = statement
        .split_whitespace()
        .next()
        .map(str::to_ascii_uppercase);
    prepared.readonly() && matches!(first.as_deref(), Some("SELECT" | "WITH" | "VALUES"))
}

/// Where a statement runs, decided once from its prepared form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// A plain read: right here, on the request's thread.
    Inline,
    /// On the blocking pool, holding the file's writer slot.
    Writer,
    /// On the blocking pool (transaction control, pragmas).
    Blocking,
}

fn placement(prepared: &rusqlite::Statement<'_>, statement: &str) -> Placement {
    if needs_writer(prepared, statement) {
        Placement::Writer
    } else if is_inline_read(prepared, statement) {
        Placement::Inline
    } else {
        Placement::Blocking
    }
}

/// Runs one statement; statements that return no rows still run to completion.
#[cfg(test)]
fn execute_blocking(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut prepared = connection.prepare_cached(statement).map_err(io_error)?;
    run_prepared(&mut prepared, parameters)
}

/// Runs a prepared statement to completion and collects its rows.
fn run_prepared(
    prepared: &mut rusqlite::Statement<'_>,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
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
        let scope = &self.state.0;
        if !scope.component().sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let path = scope.app().storage().sqlite_path(&database);
        match scope
            .app()
            .connection_pool()
            .take(path, open_database)
            .await?
        {
            Ok(loan) => Ok(Ok(self.table.push(Connection { loan })?)),
            Err(error) => Ok(Err(io_error(error))),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Some((inner, holds_writer)) = self
            .table
            .get(&connection)
            .ok()
            .and_then(|c| Some((c.loan.handle()?, c.loan.is_writing())))
        else {
            return Ok(Err(Error::InvalidConnection));
        };
        let placement = {
            // Never contended: the guest awaits each statement, and the pool reuses a
            // connection only once no statement of the previous loan is still running.
            let Ok(guard) = inner.lock() else {
                return Ok(Err(io_error("connection poisoned")));
            };
            let mut prepared = match guard.prepare_cached(&statement) {
                Ok(prepared) => prepared,
                Err(error) => return Ok(Err(io_error(error))),
            };
            match placement(&prepared, &statement) {
                Placement::Inline => return Ok(run_prepared(&mut prepared, parameters)),
                other => other,
            }
        };
        if placement == Placement::Writer && !holds_writer {
            let lock = self.table.get(&connection)?.loan.writer_lock();
            let Ok(slot) = tokio::time::timeout(BUSY_TIMEOUT, lock.lock_owned()).await else {
                return Ok(Err(io_error("database is locked")));
            };
            self.table.get_mut(&connection)?.loan.start_writing(slot);
        }
        let (result, in_transaction) = tokio::task::spawn_blocking(move || {
            let Ok(guard) = inner.lock() else {
                return (Err(io_error("connection poisoned")), false);
            };
            let result = guard
                .prepare_cached(&statement)
                .map_err(io_error)
                .and_then(|mut prepared| run_prepared(&mut prepared, parameters));
            (result, !guard.is_autocommit())
        })
        .await?;
        let loan = &mut self.table.get_mut(&connection)?.loan;
        if loan.is_writing() && !in_transaction {
            loan.stop_writing();
        }
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

    #[test]
    fn a_writer_waits_for_the_lock_instead_of_failing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lock.db");
        let holder = open_database(&path).expect("open holder");
        let waiter = open_database(&path).expect("open waiter");
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .expect("holder takes the write lock");

        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
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

    #[test]
    fn writes_and_write_transactions_need_the_writer_lock() {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        connection
            .execute_batch("CREATE TABLE t (x)")
            .expect("create");
        let cases = [
            ("SELECT x FROM t", false),
            ("WITH n AS (SELECT 1) SELECT * FROM n", false),
            ("BEGIN", false),
            ("COMMIT", false),
            ("BEGIN IMMEDIATE", true),
            ("  begin\n exclusive transaction", true),
            ("INSERT INTO t VALUES (1)", true),
            ("UPDATE t SET x = 2 RETURNING x", true),
            ("DELETE FROM t", true),
        ];
        for (statement, expected) in cases {
            let prepared = connection.prepare(statement).expect(statement);
            assert_eq!(needs_writer(&prepared, statement), expected, "{statement}");
        }
    }

    #[test]
    fn only_plain_reads_run_inline() {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        connection
            .execute_batch("CREATE TABLE t (x)")
            .expect("create");
        let cases = [
            ("SELECT x FROM t WHERE x = ?", true),
            ("  with n AS (SELECT 1) SELECT * FROM n", true),
            ("BEGIN", false),
            ("COMMIT", false),
            ("PRAGMA user_version", false),
            ("INSERT INTO t VALUES (1)", false),
            ("UPDATE t SET x = 2 RETURNING x", false),
        ];
        for (statement, expected) in cases {
            let prepared = connection.prepare(statement).expect(statement);
            assert_eq!(
                is_inline_read(&prepared, statement),
                expected,
                "{statement}"
            );
        }
    }
}
