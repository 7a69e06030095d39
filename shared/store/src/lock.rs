//! Waiting for SQLite's locks on the component's own clock.
//!
//! SQLite's busy handler (5 s under Spin, rusqlite's default) sleeps in steps that grow to
//! 100 ms, so a writer that finds the lock taken often sleeps long after it was freed: under
//! contention that made the order p99 ten times its p50. Before its first statement that may
//! take a lock, a connection turns that handler off; a statement SQLite answers "locked" (it
//! then changed nothing) is run again after a short jittered pause that doubles up to
//! [`MAX_PAUSE`], until it runs or [`LOCK_WAIT`](crate::LOCK_WAIT) has passed. The pause
//! holds no host thread: it is a `wasi:clocks` timer.

use std::time::Duration;

use spin_sdk::sqlite::{Error as SqliteError, QueryResult, Value};
use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;

use crate::{Database, LOCK_WAIT, StoreError};

/// The first pause after a "locked" answer.
const FIRST_PAUSE: Duration = Duration::from_micros(500);
/// The longest pause between two tries: about what a write transaction holds the lock.
const MAX_PAUSE: Duration = Duration::from_millis(8);

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A lock held by another connection (`SQLITE_BUSY` / `SQLITE_LOCKED`).
pub(crate) fn is_busy(error: &SqliteError) -> bool {
    matches!(error, SqliteError::Io(message) if message.contains("locked") || message.contains("busy"))
}

/// `pause`, give or take half: waiters that collided do not retry in step.
pub(crate) fn jittered(pause: Duration) -> Duration {
    // The clock's low bits differ between instances that woke together.
    let spread = u32::try_from(monotonic_clock::now() % 1024).unwrap_or(0);
    pause / 2 + pause * spread / 1023
}

/// Sleeps for `duration` on the component's clock.
pub(crate) fn pause(duration: Duration) {
    monotonic_clock::subscribe_duration(nanos(duration)).block();
}

/// Whether a statement only reads (and so never needs the write lock).
fn only_reads(statement: &str) -> bool {
    let first = statement
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default();
    first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("WITH")
}

/// Turns SQLite's busy handler off on `db`'s connection: from here on, its lock waits are
/// this module's.
pub(crate) fn make_waits_ours(db: &Database) -> Result<(), StoreError> {
    db.execute_once("PRAGMA busy_timeout = 0", &[])
        .map_err(|error| StoreError::sqlite(db.label, error))?;
    db.waits_are_ours.set(true);
    Ok(())
}

/// Runs `statement`, waiting in short jittered steps while another connection holds the lock.
pub(crate) fn run_waiting(
    db: &Database,
    statement: &str,
    parameters: &[Value],
) -> Result<QueryResult, StoreError> {
    if !db.waits_are_ours.get() && !only_reads(statement) {
        make_waits_ours(db)?;
    }
    let deadline = monotonic_clock::now().saturating_add(nanos(LOCK_WAIT));
    let mut wait = FIRST_PAUSE;
    loop {
        match db.execute_once(statement, parameters) {
            Ok(result) => return Ok(result),
            Err(error) if is_busy(&error) => {
                if monotonic_clock::now() >= deadline {
                    return Err(StoreError::Busy { label: db.label });
                }
                pause(jittered(wait));
                wait = (wait * 2).min(MAX_PAUSE);
            }
            Err(error) => return Err(StoreError::sqlite(db.label, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_statements_that_may_lock() {
        for statement in [
            "SELECT 1",
            "  select x FROM t",
            "WITH a AS (SELECT 1) SELECT * FROM a",
        ] {
            assert!(only_reads(statement), "{statement}");
        }
        for statement in [
            "BEGIN IMMEDIATE",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET x = 1",
            "COMMIT",
            "PRAGMA journal_mode = WAL",
            "SELECTED",
        ] {
            assert!(!only_reads(statement), "{statement}");
        }
    }

    #[test]
    fn busy_is_recognised_from_the_hosts_message() {
        assert!(is_busy(&SqliteError::Io("database is locked".into())));
        assert!(is_busy(&SqliteError::Io(
            "database table is locked: t".into()
        )));
        assert!(!is_busy(&SqliteError::Io("no such table: t".into())));
        assert!(!is_busy(&SqliteError::AccessDenied));
    }
}
