//! Spin SQLite for storefront services, through the Spin 2 interface
//! (`fermyon:spin/sqlite@2.0.0`) that every Spin host, Fermyon Cloud included, provides.
//!
//! Under Spin every `Connection::open` is a new connection whose first statement loads the
//! whole schema, so a request opens its database once ([`Schema::open`]) and every step of
//! it, the work after its response included, uses that one connection. Opening checks the
//! schema with one read and migrates on first use (see [`Schema`]: a service's migrations
//! come in tracks, its own and the outbox's, each numbered once).
//!
//! Writes never sleep in SQLite's busy handler, whose waits grow to 100 ms: a connection that
//! is about to write turns it off, and a write that finds the lock taken is tried again after
//! short jittered waits on the component's own clock ([`Database::transaction`]), so writers
//! under contention queue in milliseconds, not in tenths of a second.
//!
//! Every table, index and trigger of a service is named after its label (`users`,
//! `users_outbox`, ...), so several labels can be linked to one database (Fermyon Cloud plans
//! with one database) without two services' tables meeting. Statements given to migrations
//! may say `{label}`.
//!
//! Rows are read into types with [`FromRow`]: a row that does not fit is an error
//! ([`StoreError::Corrupt`]), never silently dropped. Lists come a page at a time with their
//! total, counted first ([`Database::page`]); batches of due work are claimed in one
//! statement ([`Database::claim`]); finished records go after the retention period
//! ([`retention`]).

mod lock;
mod migrate;
pub mod retention;
mod rows;

use std::cell::Cell;
use std::time::Duration;

use spin_sdk::sqlite::{Connection, Error as SqliteError};

pub use migrate::{Migration, Schema, Track};
pub use retention::{Expiry, Retention};
pub use rows::{FromRow, RowView};
pub use spin_sdk::sqlite::{QueryResult, Value};

/// How long a statement waits for another connection's lock before the request gives up.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why a database operation failed. It says nothing a client should see; services log it and
/// answer 500 (503 while the database is busy or for health checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// SQLite refused: the database cannot be opened, a statement failed.
    Sqlite { label: &'static str, cause: String },
    /// Another connection held the lock for longer than [`LOCK_WAIT`].
    Busy { label: &'static str },
    /// Another instance held the migration lock for longer than a first request waits.
    MigrationTimedOut { label: &'static str },
    /// A stored value is not what the code wrote (a missing column, a JSON column that does
    /// not parse, a history naming a migration this version does not have).
    Corrupt { label: &'static str, cause: String },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Sqlite { label, cause } => write!(f, "sqlite `{label}`: {cause}"),
            StoreError::Busy { label } => {
                write!(f, "sqlite `{label}`: still locked after {LOCK_WAIT:?}")
            }
            StoreError::MigrationTimedOut { label } => {
                write!(f, "sqlite `{label}`: still locked by another migration")
            }
            StoreError::Corrupt { label, cause } => {
                write!(f, "sqlite `{label}`: unreadable stored value: {cause}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    pub(crate) fn sqlite(label: &'static str, error: impl std::fmt::Debug) -> Self {
        StoreError::Sqlite {
            label,
            cause: format!("{error:?}"),
        }
    }

    /// Stored data that does not read back as it was written.
    pub fn corrupt(label: &'static str, cause: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            label,
            cause: cause.to_string(),
        }
    }

    /// Whether the failure is the database being busy (a client may retry soon).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Busy { .. } | StoreError::MigrationTimedOut { .. }
        )
    }
}

/// An open database of one service: one connection, for one request and its after-work.
pub struct Database {
    connection: Connection,
    label: &'static str,
    /// Whether SQLite's own busy wait is off on this connection (see [`lock`]).
    waits_are_ours: Cell<bool>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("label", &self.label)
            .finish()
    }
}

/// A page of a list: `number` from 1, `size` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    pub fn offset(&self) -> i64 {
        (i64::from(self.number) - 1) * i64::from(self.size)
    }
}

/// A list query: `SELECT {columns} {from} ORDER BY {order_by}`, where `from` holds the
/// `FROM`, joins and `WHERE` with `?` parameters.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub columns: &'a str,
    pub from: &'a str,
    pub order_by: &'a str,
    pub parameters: Vec<Value>,
}

/// A question about the database that one `SELECT` can answer with 0 or 1 (`EXISTS (...)`
/// with `?` parameters): whether some piece of work has anything to do. Several are asked
/// in one statement ([`Database::ask`]).
#[derive(Debug, Clone)]
pub struct Check {
    pub sql: String,
    pub parameters: Vec<Value>,
}

impl Check {
    /// Whether any row of `table` matches `condition`.
    pub fn any(table: &str, condition: &str, parameters: Vec<Value>) -> Self {
        Self {
            sql: format!("EXISTS (SELECT 1 FROM {table} WHERE {condition})"),
            parameters,
        }
    }

    /// Whether either check holds.
    #[must_use]
    pub fn or(mut self, other: Check) -> Self {
        self.sql = format!("({}) OR ({})", self.sql, other.sql);
        self.parameters.extend(other.parameters);
        self
    }
}

/// A batch of due rows to take in one statement: the first `limit` rows of `table` that match
/// `due`, in `order_by` order, get `set`, and `returning` is read back from each. Concurrent
/// claims take disjoint rows (SQLite runs one writer at a time, and `due` no longer matches
/// a claimed row).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub table: &'a str,
    /// The column that names a row (`id`, `order_id`, `rowid`).
    pub key: &'a str,
    pub due: &'a str,
    pub order_by: &'a str,
    pub limit: i64,
    pub set: &'a str,
    pub returning: &'a str,
}

impl Database {
    /// Opens `label` on a new connection, without checking its schema (see [`Schema::open`]).
    pub(crate) fn connect(label: &'static str) -> Result<Self, StoreError> {
        let connection =
            Connection::open(label).map_err(|error| StoreError::sqlite(label, error))?;
        Ok(Self {
            connection,
            label,
            waits_are_ours: Cell::new(false),
        })
    }

    /// The Spin SQLite label, which is also the prefix of this service's table names.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Runs one statement; a lock held by another connection is waited for (see [`lock`]).
    pub fn execute(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, StoreError> {
        lock::run_waiting(self, statement, parameters)
    }

    /// Runs one statement and reads its rows into `T`.
    pub fn query<T: FromRow>(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<Vec<T>, StoreError> {
        let result = self.execute(statement, parameters)?;
        rows::read_all(self.label, &result)
    }

    /// Reads the rows of a result into `T`.
    pub fn read_rows<T: FromRow>(&self, result: &QueryResult) -> Result<Vec<T>, StoreError> {
        rows::read_all(self.label, result)
    }

    /// Runs one statement and reads its first row, if any, into `T`.
    pub fn query_one<T: FromRow>(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query(statement, parameters)?.into_iter().next())
    }

    /// The single integer a statement reads (a count, a flag); 0 when it reads nothing.
    pub fn scalar(&self, statement: &str, parameters: &[Value]) -> Result<i64, StoreError> {
        let result = self.execute(statement, parameters)?;
        match result.rows.first().and_then(|row| row.values.first()) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Integer(value)) => Ok(*value),
            Some(other) => Err(StoreError::corrupt(
                self.label,
                format!("expected an integer, found {other:?}"),
            )),
        }
    }

    /// Runs `work` inside `BEGIN IMMEDIATE` … `COMMIT`, the write lock taken up front (waited
    /// for in short jittered steps), rolling back on any error (a storage error or the
    /// caller's own).
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.execute("BEGIN IMMEDIATE", &[])?;
        let outcome = work(self);
        self.finish(outcome)
    }

    /// Commits after `outcome` is `Ok`, else rolls back.
    fn finish<T, E: From<StoreError>>(&self, outcome: Result<T, E>) -> Result<T, E> {
        match outcome {
            Ok(value) => {
                if let Err(error) = self.execute("COMMIT", &[]) {
                    let _ = self.connection.execute("ROLLBACK", &[]);
                    return Err(error.into());
                }
                Ok(value)
            }
            Err(error) => {
                let _ = self.connection.execute("ROLLBACK", &[]);
                Err(error)
            }
        }
    }

    /// A page of `listing` and the number of rows in the whole list. Two statements, the
    /// count first: one statement with `COUNT(*) OVER ()` would make SQLite produce and sort
    /// every matching row before the first of the page (measured: a product page at a third
    /// of the throughput), while the count alone is an index scan and the page stops at its
    /// `LIMIT`. An empty list, or a page past its end, costs the count only.
    pub fn page<T: FromRow>(
        &self,
        listing: &Listing<'_>,
        page: Page,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let total = self.scalar(
            &format!("SELECT COUNT(*) {}", listing.from),
            &listing.parameters,
        )?;
        let total = u64::try_from(total).unwrap_or(0);
        if u64::try_from(page.offset()).unwrap_or(u64::MAX) >= total {
            return Ok((Vec::new(), total));
        }
        let mut parameters = listing.parameters.clone();
        parameters.push(Value::Integer(i64::from(page.size)));
        parameters.push(Value::Integer(page.offset()));
        let rows = self.query(
            &format!(
                "SELECT {} {} ORDER BY {} LIMIT ? OFFSET ?",
                listing.columns, listing.from, listing.order_by
            ),
            &parameters,
        )?;
        Ok((rows, total))
    }

    /// Whether any row of `table` matches `condition` (one indexed read: the cheap test
    /// before a claim or a prune takes the write lock).
    pub fn any(
        &self,
        table: &str,
        condition: &str,
        parameters: &[Value],
    ) -> Result<bool, StoreError> {
        let found = self.execute(
            &format!("SELECT 1 FROM {table} WHERE {condition} LIMIT 1"),
            parameters,
        )?;
        Ok(!found.rows.is_empty())
    }

    /// The answers to `checks`, in order, from one statement.
    pub fn ask(&self, checks: &[Check]) -> Result<Vec<bool>, StoreError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let columns: Vec<String> = checks
            .iter()
            .enumerate()
            .map(|(index, check)| format!("({}) AS c{index}", check.sql))
            .collect();
        let parameters: Vec<Value> = checks
            .iter()
            .flat_map(|check| check.parameters.iter().cloned())
            .collect();
        let result = self.execute(&format!("SELECT {}", columns.join(", ")), &parameters)?;
        let row = result.rows.first();
        Ok((0..checks.len())
            .map(|index| {
                matches!(
                    row.and_then(|row| row.values.get(index)),
                    Some(Value::Integer(value)) if *value != 0
                )
            })
            .collect())
    }

    /// Takes a batch of due rows (see [`Claim`]) and returns what `claim.returning` reads.
    pub fn claim(
        &self,
        claim: &Claim<'_>,
        parameters: &[Value],
    ) -> Result<QueryResult, StoreError> {
        let Claim {
            table,
            key,
            due,
            order_by,
            limit,
            set,
            returning,
        } = claim;
        self.execute(
            &format!(
                "UPDATE {table} SET {set} WHERE {key} IN (
                     SELECT {key} FROM {table} WHERE {due} ORDER BY {order_by} LIMIT {limit})
                 RETURNING {returning}"
            ),
            parameters,
        )
    }

    /// Whether the database answers a trivial query (for `/health`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.execute("SELECT 1", &[]).map(drop)
    }

    /// Runs a statement once, as SQLite answers it (no waiting for locks).
    pub(crate) fn execute_once(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, SqliteError> {
        self.connection.execute(statement, parameters)
    }
}

/// A value as a JSON column.
pub fn to_json_column<T: serde::Serialize>(
    label: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::corrupt(label, error))
}

/// A stored JSON column read back; a value that does not parse is [`StoreError::Corrupt`].
pub fn from_json_column<T: serde::de::DeserializeOwned>(
    label: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::corrupt(label, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_one() {
        assert_eq!(
            Page {
                number: 1,
                size: 20
            }
            .offset(),
            0
        );
        assert_eq!(
            Page {
                number: 3,
                size: 20
            }
            .offset(),
            40
        );
    }

    #[test]
    fn busy_errors_say_a_retry_may_succeed_and_others_do_not() {
        assert!(StoreError::Busy { label: "x" }.is_busy());
        assert!(!StoreError::sqlite("x", "no such table").is_busy());
    }
}
