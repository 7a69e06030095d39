//! Spin SQLite for storefront services, through the Spin 2 interface
//! (`fermyon:spin/sqlite@2.0.0`) that every Spin host, Fermyon Cloud included, provides.
//!
//! [`Database::open`] opens a labelled database and brings its schema up to date with the
//! service's [`Migration`]s: versioned, applied in order inside `BEGIN IMMEDIATE` so that
//! concurrent first requests cannot apply one twice, and recorded in
//! `<label>_schema_migrations`. No manual step is needed on Spin, on the runner or on a fresh
//! deployment.
//!
//! Every table, index and trigger of a service is named after its label (`users`,
//! `users_outbox`, ...), so several labels can be linked to one database (Fermyon Cloud plans
//! with a single database) without two services' tables meeting. A service's pending
//! migrations run in one transaction, so a shared migration that creates a table under a
//! generic name and renames it into the service's namespace never shows that name to another
//! service. Statements may say `{label}` for the label (migrations shared by services).

use std::time::Duration;

use spin_sdk::sqlite::{Connection, Error as SqliteError, QueryResult, Value};
use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;

/// How long a first request waits for another instance to finish migrating.
const MIGRATION_WAIT: Duration = Duration::from_secs(20);
/// How long the migrating instance tries to switch the file to write-ahead logging.
const WAL_SWITCH_WAIT: Duration = Duration::from_secs(2);

/// Days finished records are kept when `retention_days` does not say otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;
/// Rows one prune deletes at most: a backlog goes over several passes, none of which holds
/// the write lock for long.
pub const PRUNE_BATCH: i64 = 500;
const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// How long finished records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Forever,
    Days(i64),
}

impl Retention {
    /// `retention_days` as written: whole days, `0` for forever; unset, empty or anything
    /// else gives the default (a typo never deletes data early or keeps it without bound).
    pub fn parse(text: Option<&str>) -> Self {
        match text
            .map(str::trim)
            .and_then(|text| text.parse::<i64>().ok())
        {
            Some(0) => Self::Forever,
            Some(days) if days > 0 => Self::Days(days),
            _ => Self::Days(DEFAULT_RETENTION_DAYS),
        }
    }

    /// The `retention_days` variable of this component.
    pub fn from_variables() -> Self {
        Self::parse(spin_sdk::variables::get("retention_days").ok().as_deref())
    }

    /// The time (RFC 3339, as the tables store it) before which a finished record is deleted,
    /// as of `now_millis`; `None` keeps everything.
    pub fn cutoff(self, now_millis: i64) -> Option<String> {
        match self {
            Self::Forever => None,
            Self::Days(days) => Some(envelope::rfc3339_from_millis(
                now_millis.saturating_sub(days.saturating_mul(MILLIS_PER_DAY)),
            )),
        }
    }
}

/// Records of one table that may go once they are finished and older than the retention
/// period. `finished` is an SQL condition and `since` the RFC 3339 column the age is read
/// from; a partial index on `since` with the `finished` condition keeps pruning from reading
/// the rows that stay. `table` may say `{label}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub table: &'static str,
    pub finished: &'static str,
    pub since: &'static str,
}

impl Expiry {
    /// The table, for the service whose label is `label`.
    pub fn table_of(&self, label: &str) -> String {
        self.table.replace("{label}", label)
    }

    /// The SQL condition selecting the expired records, with `?1` for the cutoff.
    pub fn condition(&self) -> String {
        format!("{} AND {} < ?1", self.finished, self.since)
    }
}

/// How a statement that needed a lock came out (see `Database::retry_while_locked`).
enum Attempt {
    Done,
    NotNeeded,
    TimedOut,
}
/// SQLite's wait for a lock when the host's cannot be read (rusqlite's default, which Spin keeps).
const DEFAULT_BUSY_TIMEOUT_MS: i64 = 5000;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `pause` give or take a quarter, so waiters that collided do not retry in step.
fn jittered(pause: Duration) -> Duration {
    let spread = pause / 2;
    // The clock's low bits differ between instances that woke together.
    let offset = u32::try_from(monotonic_clock::now() % 256).unwrap_or(0);
    pause - spread / 2 + spread * offset / 255
}

/// A lock held by another connection (`SQLITE_BUSY` / `SQLITE_LOCKED`).
fn is_busy(error: &SqliteError) -> bool {
    matches!(error, SqliteError::Io(message) if message.contains("locked") || message.contains("busy"))
}

/// One schema change: `version` must increase by one from 1.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    /// Statements run in order (the SQLite interface runs one statement per call).
    pub statements: &'static [&'static str],
}

/// An open database of one service.
pub struct Database {
    connection: Connection,
    label: &'static str,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("label", &self.label)
            .finish()
    }
}

/// Why a database operation failed. It says nothing a client should see; services log it and
/// answer 500 (or 503 for health checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// SQLite refused: the database cannot be opened, a statement failed, a lock timed out.
    Sqlite { label: &'static str, cause: String },
    /// Another instance held the migration lock for longer than a first request waits.
    MigrationTimedOut { label: &'static str },
    /// A stored value is not what the code wrote (a JSON column that does not parse, say).
    Corrupt { label: &'static str, cause: String },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Sqlite { label, cause } => write!(f, "sqlite `{label}`: {cause}"),
            StoreError::MigrationTimedOut { label } => write!(
                f,
                "sqlite `{label}`: still locked by another migration after {MIGRATION_WAIT:?}"
            ),
            StoreError::Corrupt { label, cause } => {
                write!(f, "sqlite `{label}`: unreadable stored value: {cause}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn storage_error(label: &'static str, error: impl std::fmt::Debug) -> StoreError {
    StoreError::Sqlite {
        label,
        cause: format!("{error:?}"),
    }
}

impl Database {
    /// The Spin SQLite label, which is also the prefix of this service's table names.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Opens `label` and applies any pending migrations.
    pub fn open(label: &'static str, migrations: &[Migration]) -> Result<Self, StoreError> {
        let connection = Connection::open(label).map_err(|error| storage_error(label, error))?;
        let database = Self { connection, label };
        database.migrate(migrations)?;
        Ok(database)
    }

    /// Runs one statement.
    pub fn execute(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, StoreError> {
        self.connection
            .execute(statement, parameters)
            .map_err(|error| storage_error(self.label, error))
    }

    /// Runs `work` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back on any error (a storage
    /// error or the caller's own).
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.execute("BEGIN IMMEDIATE", &[])?;
        self.finish_transaction(work(self))
    }

    /// Commits after `outcome` is `Ok`, else rolls back.
    fn finish_transaction<T, E: From<StoreError>>(&self, outcome: Result<T, E>) -> Result<T, E> {
        match outcome {
            Ok(value) => {
                if let Err(error) = self.execute("COMMIT", &[]) {
                    let _ = self.execute("ROLLBACK", &[]);
                    return Err(error.into());
                }
                Ok(value)
            }
            Err(error) => {
                let _ = self.execute("ROLLBACK", &[]);
                Err(error)
            }
        }
    }

    /// Runs `work` inside a read transaction (`BEGIN` … `COMMIT`): every read in it sees the
    /// same snapshot, so a page and its total agree.
    pub fn read_transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.execute("BEGIN", &[])?;
        let result = work(self);
        let _ = self.execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]);
        result
    }

    /// Deletes up to [`PRUNE_BATCH`] records that `expiry` selects and whose age passed
    /// `cutoff` (see [`Retention::cutoff`]); returns how many went. It reads first, so a pass
    /// with nothing to delete takes no write lock.
    pub fn prune(&self, expiry: &Expiry, cutoff: &str) -> Result<usize, StoreError> {
        let table = expiry.table_of(self.label);
        let selected = expiry.condition();
        let cutoff = [Value::Text(cutoff.to_string())];
        let any = self.execute(
            &format!("SELECT 1 FROM {table} WHERE {selected} LIMIT 1"),
            &cutoff,
        )?;
        if any.rows.is_empty() {
            return Ok(0);
        }
        let deleted = self.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN
                 (SELECT rowid FROM {table} WHERE {selected} LIMIT {PRUNE_BATCH}) RETURNING 1"
            ),
            &cutoff,
        )?;
        Ok(deleted.rows.len())
    }

    /// Whether the database answers a trivial query (for `/health`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.execute("SELECT 1", &[]).map(drop)
    }

    fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let latest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        // Every request opens the database, so the up-to-date case is a single read. (Even a
        // `CREATE TABLE IF NOT EXISTS` is a write statement and would queue for the writer.)
        // A missing table reads as an error and takes the slow path, which creates it.
        if self
            .current_version()
            .is_ok_and(|applied| applied >= latest)
        {
            return Ok(());
        }
        let up_to_date = || {
            self.current_version()
                .is_ok_and(|applied| applied >= latest)
        };
        let deadline = monotonic_clock::now().saturating_add(nanos(MIGRATION_WAIT));
        match self.retry_while_locked("BEGIN IMMEDIATE", deadline, up_to_date)? {
            Attempt::Done => {}
            Attempt::NotNeeded => return Ok(()),
            Attempt::TimedOut => {
                return Err(StoreError::MigrationTimedOut { label: self.label });
            }
        }
        let history = self.history_table();
        let outcome = (|| {
            self.adopt_unprefixed_history()?;
            self.execute(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {history} (
                        version INTEGER PRIMARY KEY,
                        description TEXT NOT NULL,
                        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                    )"
                ),
                &[],
            )?;
            // Re-read under the write lock: another instance may have migrated meanwhile.
            let applied = self.current_version()?;
            for migration in migrations.iter().filter(|m| m.version > applied) {
                for statement in migration.statements {
                    self.execute(&statement.replace("{label}", self.label), &[])?;
                }
                self.execute(
                    &format!("INSERT INTO {history} (version, description) VALUES (?, ?)"),
                    &[
                        Value::Integer(migration.version),
                        Value::Text(migration.description.to_string()),
                    ],
                )?;
            }
            Ok(())
        })();
        self.finish_transaction(outcome)?;
        // Write-ahead logging lets readers go on while a writer works (Spin opens files in
        // rollback-journal mode, where a commit waits for every reader). The mode is stored in
        // the file, so the instance that migrated sets it once; hosts whose databases are not
        // local files (libSQL, say) may refuse it, which changes nothing else.
        let deadline = monotonic_clock::now().saturating_add(nanos(WAL_SWITCH_WAIT));
        let _ = self.retry_while_locked("PRAGMA journal_mode = WAL", deadline, || false);
        Ok(())
    }

    /// Runs `statement`, which needs a lock, until it gets it, `not_needed()` says another
    /// instance did the work meanwhile, or `deadline` (monotonic nanoseconds) passes.
    ///
    /// Every first request of a fresh deployment migrates at once. Waiting inside SQLite's busy
    /// handler would park one host thread per waiter (Spin runs each statement on its blocking
    /// pool), and a few hundred of them starve the one instance that holds the lock until every
    /// wait times out. So this connection does not wait inside SQLite here: a locked database is
    /// tried again after a pause on the component's own clock, which holds no host thread.
    fn retry_while_locked(
        &self,
        statement: &str,
        deadline: u64,
        mut not_needed: impl FnMut() -> bool,
    ) -> Result<Attempt, StoreError> {
        let mut pause = Duration::from_millis(2);
        // The host's own wait, put back afterwards (Spin's is 5 s, the runner's 10 s).
        let host_wait = self
            .execute("PRAGMA busy_timeout", &[])
            .ok()
            .and_then(|result| {
                result
                    .rows()
                    .next()
                    .and_then(|row| row.get::<i64>("timeout"))
            })
            .unwrap_or(DEFAULT_BUSY_TIMEOUT_MS);
        let _ = self.execute("PRAGMA busy_timeout = 0", &[]);
        let outcome = loop {
            match self.connection.execute(statement, &[]) {
                Ok(_) => break Ok(Attempt::Done),
                Err(error) if is_busy(&error) => {
                    if monotonic_clock::now() >= deadline {
                        break Ok(Attempt::TimedOut);
                    }
                    monotonic_clock::subscribe_duration(nanos(jittered(pause))).block();
                    pause = (pause * 2).min(Duration::from_millis(50));
                    if not_needed() {
                        break Ok(Attempt::NotNeeded);
                    }
                }
                Err(error) => break Err(storage_error(self.label, error)),
            }
        };
        let _ = self.execute(&format!("PRAGMA busy_timeout = {host_wait}"), &[]);
        outcome
    }

    /// `<label>_schema_migrations`: this service's applied migrations.
    fn history_table(&self) -> String {
        format!("{}_schema_migrations", self.label)
    }

    /// Databases made before table names carried the label kept the history in
    /// `schema_migrations`, one service per file: that table becomes this service's. (A
    /// database shared by several labels never has it, since nothing creates it any more.)
    fn adopt_unprefixed_history(&self) -> Result<(), StoreError> {
        let tables = self.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', ?)",
            &[Value::Text(self.history_table())],
        )?;
        let names: Vec<&str> = tables
            .rows()
            .filter_map(|row| row.get::<&str>("name"))
            .collect();
        if names == ["schema_migrations"] {
            self.execute(
                &format!(
                    "ALTER TABLE schema_migrations RENAME TO {}",
                    self.history_table()
                ),
                &[],
            )?;
        }
        Ok(())
    }

    /// The highest applied migration version (0 for a new database).
    pub fn current_version(&self) -> Result<i64, StoreError> {
        let result = self.execute(
            &format!(
                "SELECT COALESCE(MAX(version), 0) AS version FROM {}",
                self.history_table()
            ),
            &[],
        )?;
        Ok(result
            .rows()
            .next()
            .and_then(|row| row.get::<i64>("version"))
            .unwrap_or(0))
    }
}

/// A value as a JSON column.
pub fn to_json_column<T: serde::Serialize>(
    label: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt {
        label,
        cause: error.to_string(),
    })
}

/// A stored JSON column read back; a value that does not parse is [`StoreError::Corrupt`].
pub fn from_json_column<T: serde::de::DeserializeOwned>(
    label: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        label,
        cause: error.to_string(),
    })
}

/// A service's database: its Spin SQLite label and its migrations, whose numbering (1, 2, 3, …,
/// each with statements) is checked when the program is compiled.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub label: &'static str,
    pub migrations: &'static [Migration],
}

impl Schema {
    pub const fn new(label: &'static str, migrations: &'static [Migration]) -> Self {
        let mut index = 0;
        while index < migrations.len() {
            assert!(
                migrations[index].version == index as i64 + 1,
                "migrations must be numbered 1, 2, 3, ... without gaps"
            );
            assert!(
                !migrations[index].statements.is_empty(),
                "a migration needs statements"
            );
            index += 1;
        }
        Self { label, migrations }
    }

    /// Opens the database, migrating it on first use.
    pub fn open(&self) -> Result<Database, StoreError> {
        Database::open(self.label, self.migrations)
    }
}

/// Checks that a migration list is numbered 1, 2, 3, … (what [`Schema::new`] checks at
/// compile time, for lists built at run time).
pub fn check_migration_order(migrations: &[Migration]) -> Result<(), String> {
    for (index, migration) in migrations.iter().enumerate() {
        let expected = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if migration.version != expected {
            return Err(format!(
                "migration `{}` has version {}, expected {expected}",
                migration.description, migration.version
            ));
        }
        if migration.statements.is_empty() {
            return Err(format!("migration {} has no statements", migration.version));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[Migration] = &[
        Migration {
            version: 1,
            description: "a",
            statements: &["CREATE TABLE a (x)"],
        },
        Migration {
            version: 2,
            description: "b",
            statements: &["CREATE TABLE b (x)"],
        },
    ];

    #[test]
    fn migrations_must_be_numbered_from_one_without_gaps() {
        assert!(check_migration_order(GOOD).is_ok());
        assert!(check_migration_order(&GOOD[1..]).is_err());
        let empty = [Migration {
            version: 1,
            description: "e",
            statements: &[],
        }];
        assert!(check_migration_order(&empty).is_err());
    }

    #[test]
    fn retention_is_whole_days_zero_is_forever_and_anything_else_the_default() {
        assert_eq!(Retention::parse(Some(" 7 ")), Retention::Days(7));
        assert_eq!(Retention::parse(Some("0")), Retention::Forever);
        for text in [None, Some(""), Some("-3"), Some("1.5"), Some("thirty")] {
            assert_eq!(
                Retention::parse(text),
                Retention::Days(DEFAULT_RETENTION_DAYS),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_cutoff_is_the_retention_period_before_now_in_the_stored_format() {
        let now = 40 * MILLIS_PER_DAY + 1;

        assert_eq!(
            Retention::Days(30).cutoff(now).as_deref(),
            Some("1970-01-11T00:00:00.001Z")
        );
        assert_eq!(Retention::Forever.cutoff(now), None);
        assert!(Retention::Days(i64::MAX).cutoff(now).is_some());
    }
}
