//! Versioned schemas, applied on first use.
//!
//! A service's database is described by a [`Schema`]: its label and its migration tracks. A
//! track is a numbered list owned by one piece of code (the service's own tables; the outbox,
//! shared by every producer), so a change to the outbox is one migration in one list, applied
//! to every producer. Applied migrations are recorded per track in `<label>_migrations`.
//!
//! Opening checks the schema with one read (the number of applied migrations); a database
//! behind it is migrated inside `BEGIN IMMEDIATE`, so concurrent first requests cannot apply
//! a migration twice, and its pending migrations run in one transaction. Databases of earlier
//! releases, whose history was one list per service (`<label>_schema_migrations`, and before
//! that `schema_migrations`), are taken over: each recorded migration is found in its track
//! by its description, which therefore never changes.

use std::time::Duration;

use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;

use crate::lock::{is_busy, jittered, make_waits_ours, nanos, pause};
use crate::{Database, StoreError, Value};

/// How long a first request waits for another instance to finish migrating.
const MIGRATION_WAIT: Duration = Duration::from_secs(20);
/// How long the migrating instance tries to switch the file to write-ahead logging.
const WAL_SWITCH_WAIT: Duration = Duration::from_secs(2);

/// One schema change: `version` counts from 1 within its track.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    /// Also how the history of earlier releases names it: never change it.
    pub description: &'static str,
    /// Statements run in order (the SQLite interface runs one statement per call); they may
    /// say `{label}` for the service's label.
    pub statements: &'static [&'static str],
}

/// A numbered list of migrations owned by one piece of code.
#[derive(Debug, Clone, Copy)]
pub struct Track {
    pub name: &'static str,
    pub migrations: &'static [Migration],
}

impl Track {
    /// A track; its numbering (1, 2, 3, … each with statements) is checked when the program
    /// is compiled.
    pub const fn new(name: &'static str, migrations: &'static [Migration]) -> Self {
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
        Self { name, migrations }
    }
}

/// A service's database: its Spin SQLite label and its tracks, applied in order.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub label: &'static str,
    pub tracks: &'static [Track],
}

impl Schema {
    pub const fn new(label: &'static str, tracks: &'static [Track]) -> Self {
        Self { label, tracks }
    }

    /// Every migration of every track.
    fn total(&self) -> i64 {
        self.tracks
            .iter()
            .map(|track| i64::try_from(track.migrations.len()).unwrap_or(i64::MAX))
            .sum()
    }

    /// `<label>_migrations`: the applied migrations, by track.
    fn history_table(&self) -> String {
        format!("{}_migrations", self.label)
    }

    /// Opens the database on a new connection and brings it up to date.
    pub fn open(&self) -> Result<Database, StoreError> {
        let db = Database::connect(self.label)?;
        if self
            .applied(&db)
            .is_ok_and(|applied| applied >= self.total())
        {
            return Ok(db);
        }
        self.migrate(&db)?;
        Ok(db)
    }

    /// How many migrations the database records (an error when it has no history yet).
    fn applied(&self, db: &Database) -> Result<i64, StoreError> {
        // One read on the common path; a missing table is an error and takes the slow one.
        db.scalar(
            &format!("SELECT COUNT(*) FROM {}", self.history_table()),
            &[],
        )
    }

    fn migrate(&self, db: &Database) -> Result<(), StoreError> {
        let deadline = monotonic_clock::now().saturating_add(nanos(MIGRATION_WAIT));
        let mut wait = Duration::from_millis(2);
        // SQLite's own wait would hold one host thread per waiting instance (Spin runs each
        // statement on its blocking pool); a few hundred first requests then starve the one
        // that migrates. Waits are ours, on the component's clock.
        make_waits_ours(db)?;
        loop {
            match db.execute_once("BEGIN IMMEDIATE", &[]) {
                Ok(_) => break,
                Err(error) if is_busy(&error) => {
                    if monotonic_clock::now() >= deadline {
                        return Err(StoreError::MigrationTimedOut { label: self.label });
                    }
                    pause(jittered(wait));
                    wait = (wait * 2).min(Duration::from_millis(50));
                    if self
                        .applied(db)
                        .is_ok_and(|applied| applied >= self.total())
                    {
                        return Ok(());
                    }
                }
                Err(error) => return Err(StoreError::sqlite(self.label, error)),
            }
        }
        db.finish(self.migrate_locked(db))?;
        // Write-ahead logging lets readers go on while a writer works (SQLite files start in
        // rollback-journal mode, where a commit waits for every reader). The mode is stored
        // in the file, so the instance that migrated sets it once; hosts whose databases are
        // not local files (libSQL, say) may refuse it, which changes nothing else.
        let deadline = monotonic_clock::now().saturating_add(nanos(WAL_SWITCH_WAIT));
        while monotonic_clock::now() < deadline {
            match db.execute_once("PRAGMA journal_mode = WAL", &[]) {
                Err(error) if is_busy(&error) => pause(jittered(Duration::from_millis(5))),
                _ => break,
            }
        }
        Ok(())
    }

    /// Applies what is pending, inside the caller's write transaction.
    fn migrate_locked(&self, db: &Database) -> Result<(), StoreError> {
        let history = self.history_table();
        db.execute(
            &format!(
                "CREATE TABLE IF NOT EXISTS {history} (
                    track TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    description TEXT NOT NULL,
                    applied_at TEXT NOT NULL,
                    PRIMARY KEY (track, version)
                )"
            ),
            &[],
        )?;
        self.take_over_earlier_history(db)?;
        for track in self.tracks {
            // Read under the write lock: another instance may have migrated meanwhile.
            let applied = db.scalar(
                &format!("SELECT COALESCE(MAX(version), 0) FROM {history} WHERE track = ?"),
                &[Value::Text(track.name.to_string())],
            )?;
            for migration in track.migrations.iter().filter(|m| m.version > applied) {
                for statement in migration.statements {
                    db.execute(&statement.replace("{label}", self.label), &[])?;
                }
                self.record(db, track, migration, &platform::clock::now_rfc3339())?;
            }
        }
        Ok(())
    }

    fn record(
        &self,
        db: &Database,
        track: &Track,
        migration: &Migration,
        applied_at: &str,
    ) -> Result<(), StoreError> {
        db.execute(
            &format!(
                "INSERT INTO {} (track, version, description, applied_at) VALUES (?, ?, ?, ?)",
                self.history_table()
            ),
            &[
                Value::Text(track.name.to_string()),
                Value::Integer(migration.version),
                Value::Text(migration.description.to_string()),
                Value::Text(applied_at.to_string()),
            ],
        )?;
        Ok(())
    }

    /// Moves the history of an earlier release (one list per service, in
    /// `<label>_schema_migrations` or, before table names carried the label,
    /// `schema_migrations`) into the tracks, matching each migration by its description, and
    /// drops the old table.
    fn take_over_earlier_history(&self, db: &Database) -> Result<(), StoreError> {
        let prefixed = format!("{}_schema_migrations", self.label);
        let tables = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', ?)",
            &[Value::Text(prefixed.clone())],
        )?;
        let names: Vec<String> = tables
            .rows
            .iter()
            .filter_map(|row| match row.values.first() {
                Some(Value::Text(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        // A shared file never has the unprefixed table: nothing has created it since labels
        // could share one, and a file of one service's is that service's.
        let Some(earlier) = [prefixed, "schema_migrations".to_string()]
            .into_iter()
            .find(|name| names.contains(name))
        else {
            return Ok(());
        };
        let recorded = db.execute(
            &format!("SELECT description, applied_at FROM {earlier} ORDER BY version"),
            &[],
        )?;
        for row in &recorded.rows {
            let (Some(Value::Text(description)), Some(Value::Text(applied_at))) =
                (row.values.first(), row.values.get(1))
            else {
                return Err(StoreError::corrupt(
                    self.label,
                    "a history row without text",
                ));
            };
            let (track, migration) = self.find(description).ok_or_else(|| {
                StoreError::corrupt(
                    self.label,
                    format!("the history names `{description}`, which no track has"),
                )
            })?;
            self.record(db, track, migration, applied_at)?;
        }
        db.execute(&format!("DROP TABLE {earlier}"), &[])?;
        Ok(())
    }

    fn find(&self, description: &str) -> Option<(&Track, &Migration)> {
        self.tracks.iter().find_map(|track| {
            track
                .migrations
                .iter()
                .find(|migration| migration.description == description)
                .map(|migration| (track, migration))
        })
    }

    /// Checks that no two migrations of the schema share a description (the history of
    /// earlier releases is matched by it).
    pub fn check_descriptions(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for track in self.tracks {
            for migration in track.migrations {
                if !seen.insert(migration.description) {
                    return Err(format!(
                        "`{}` names two migrations of `{}`",
                        migration.description, self.label
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Track = Track::new(
        "a",
        &[
            Migration {
                version: 1,
                description: "first",
                statements: &["CREATE TABLE a (x)"],
            },
            Migration {
                version: 2,
                description: "second",
                statements: &["CREATE TABLE b (x)"],
            },
        ],
    );
    const B: Track = Track::new(
        "b",
        &[Migration {
            version: 1,
            description: "other",
            statements: &["CREATE TABLE c (x)"],
        }],
    );

    #[test]
    fn a_schema_counts_every_track_and_finds_migrations_by_description() {
        let schema = Schema::new("things", &[A, B]);

        assert_eq!(schema.total(), 3);
        assert_eq!(schema.history_table(), "things_migrations");
        assert_eq!(
            schema
                .find("other")
                .map(|(track, m)| (track.name, m.version)),
            Some(("b", 1))
        );
        assert!(schema.find("missing").is_none());
        assert!(schema.check_descriptions().is_ok());
    }

    #[test]
    fn two_migrations_may_not_share_a_description() {
        const DUPLICATE: Track = Track::new(
            "d",
            &[Migration {
                version: 1,
                description: "first",
                statements: &["CREATE TABLE d (x)"],
            }],
        );
        assert!(
            Schema::new("t", &[A, DUPLICATE])
                .check_descriptions()
                .is_err()
        );
    }
}
