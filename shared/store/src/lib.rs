//! Spin SQLite for storefront services, through the Spin 2 interface
//! (`fermyon:spin/sqlite@2.0.0`) that every Spin host, Fermyon Cloud included, provides.
//!
//! [`Database::open`] opens a labelled database and brings its schema up to date with the
//! service's [`Migration`]s: versioned, applied in order inside `BEGIN IMMEDIATE` so that
//! concurrent first requests cannot apply one twice, and recorded in `schema_migrations`.
//! No manual step is needed on Spin, on the runner or on a fresh deployment.

use response_handler::{ApiError, ApiResult, Reply};
use serde_json::json;
use spin_sdk::sqlite::{Connection, QueryResult, Value};

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

fn storage_error(label: &str, error: impl std::fmt::Debug) -> ApiError {
    ApiError::internal(format!("sqlite `{label}`: {error:?}"))
}

impl Database {
    /// Opens `label` and applies any pending migrations.
    pub fn open(label: &'static str, migrations: &[Migration]) -> Result<Self, ApiError> {
        let connection = Connection::open(label).map_err(|error| storage_error(label, error))?;
        let database = Self { connection, label };
        database.migrate(migrations)?;
        Ok(database)
    }

    /// Runs one statement.
    pub fn execute(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, ApiError> {
        self.connection
            .execute(statement, parameters)
            .map_err(|error| storage_error(self.label, error))
    }

    /// Runs `work` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back on any error.
    pub fn transaction<T>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.execute("BEGIN IMMEDIATE", &[])?;
        match work(self) {
            Ok(value) => {
                if let Err(error) = self.execute("COMMIT", &[]) {
                    let _ = self.execute("ROLLBACK", &[]);
                    return Err(error);
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
    pub fn read_transaction<T>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.execute("BEGIN", &[])?;
        let result = work(self);
        let _ = self.execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]);
        result
    }

    /// Whether the database answers a trivial query (for `/health`).
    pub fn ping(&self) -> Result<(), ApiError> {
        self.execute("SELECT 1", &[]).map(drop)
    }

    fn migrate(&self, migrations: &[Migration]) -> Result<(), ApiError> {
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
        self.transaction(|db| {
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY,
                    description TEXT NOT NULL,
                    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )",
                &[],
            )?;
            // Re-read under the write lock: another instance may have migrated meanwhile.
            let applied = db.current_version()?;
            for migration in migrations.iter().filter(|m| m.version > applied) {
                for statement in migration.statements {
                    db.execute(statement, &[])?;
                }
                db.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                    &[
                        Value::Integer(migration.version),
                        Value::Text(migration.description.to_string()),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The highest applied migration version (0 for a new database).
    pub fn current_version(&self) -> Result<i64, ApiError> {
        let result = self.execute(
            "SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations",
            &[],
        )?;
        Ok(result
            .rows()
            .next()
            .and_then(|row| row.get::<i64>("version"))
            .unwrap_or(0))
    }
}

/// `GET /health` of a service whose health is its database answering `check`.
pub fn health_reply(service: &str, check: Result<(), ApiError>) -> ApiResult {
    match check {
        Ok(()) => Ok(Reply::ok(
            &json!({ "service": service, "status": "healthy", "database": "connected" }),
            "Service is healthy",
        )),
        Err(error) => Err(ApiError::service_unavailable("Service is unhealthy")
            .with_details(
                json!({ "service": service, "status": "unhealthy", "database": "disconnected" }),
            )
            .with_cause(error)),
    }
}

/// Checks that a migration list is numbered 1, 2, 3, … (a unit test in each service calls it).
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
}
