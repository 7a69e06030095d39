//! The state every public entry of the storefront shares, whichever component serves the
//! request and however the app is deployed (one app, or one app per service linked to one
//! database): the `edge` SQLite label.
//!
//! - Rate-limit counters ([`count`]): one row per subject (a client address or a user) for
//!   the current one-minute window, counted by one `INSERT … ON CONFLICT DO UPDATE …
//!   RETURNING`, so concurrent requests each get their own count and at most the limit pass.
//!   Rows of windows before the previous one are deleted after responses ([`stale_counters`],
//!   [`prune_counters`]).
//! - Session generations ([`session_generation`], [`end_sessions`]): a user's tokens carry
//!   the generation they were issued in; logging out raises it, and every component refuses
//!   tokens of an older one.

use platform::clock;
use store::retention::PRUNE_BATCH;
use store::{Check, Database, Migration, Schema, StoreError, Track, Value};

/// The Spin SQLite label.
pub const LABEL: &str = "edge";

/// The edge database: counters and session generations.
pub const SCHEMA: Schema = Schema::new(
    LABEL,
    &[Track::new(
        LABEL,
        &[Migration {
            version: 1,
            description: "rate-limit counters and session generations",
            statements: &[
                "CREATE TABLE edge_rate_counters (
                    subject TEXT PRIMARY KEY,
                    window INTEGER NOT NULL,
                    hits INTEGER NOT NULL
                )",
                "CREATE INDEX edge_rate_counters_window ON edge_rate_counters (window)",
                "CREATE TABLE edge_sessions (
                    user_id TEXT PRIMARY KEY,
                    generation INTEGER NOT NULL,
                    ended_at TEXT NOT NULL
                )",
            ],
        }],
    )],
);

/// How long a rate-limit window lasts.
pub const WINDOW_SECONDS: i64 = 60;

/// The window `now_millis` falls in.
pub fn window_of(now_millis: i64) -> i64 {
    now_millis.div_euclid(1000 * WINDOW_SECONDS)
}

/// Counts one request for each subject in the window `window`; returns each subject's count
/// in it, this request included, in the order given. One statement: concurrent requests are
/// counted one after another by SQLite's write lock.
pub fn count(db: &Database, subjects: &[&str], window: i64) -> Result<Vec<i64>, StoreError> {
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let rows = vec!["(?, ?, 1)"; subjects.len()].join(", ");
    let parameters: Vec<Value> = subjects
        .iter()
        .flat_map(|subject| [Value::Text(subject.to_string()), Value::Integer(window)])
        .collect();
    let counted = db.execute(
        &format!(
            "INSERT INTO edge_rate_counters (subject, window, hits) VALUES {rows}
             ON CONFLICT (subject) DO UPDATE SET
                 hits = CASE WHEN window = excluded.window THEN hits + 1 ELSE 1 END,
                 window = excluded.window
             RETURNING subject, hits"
        ),
        &parameters,
    )?;
    subjects
        .iter()
        .map(|subject| {
            counted
                .rows
                .iter()
                .find(|row| matches!(row.values.first(), Some(Value::Text(s)) if s == subject))
                .and_then(|row| match row.values.get(1) {
                    Some(Value::Integer(hits)) => Some(*hits),
                    _ => None,
                })
                .ok_or_else(|| StoreError::Corrupt {
                    label: LABEL,
                    cause: format!("no count returned for {subject}"),
                })
        })
        .collect()
}

/// Whether counters of windows before the previous one are waiting to be deleted (one read
/// of the window index).
pub fn stale_counters(window: i64) -> Check {
    Check::any(
        "edge_rate_counters",
        "window < ?",
        vec![Value::Integer(window - 1)],
    )
}

/// Deletes up to [`PRUNE_BATCH`] counters of windows before the previous one (a replica whose
/// clock lags still counts in the previous window); returns how many went.
pub fn prune_counters(db: &Database, window: i64) -> Result<usize, StoreError> {
    let deleted = db.execute(
        &format!(
            "DELETE FROM edge_rate_counters WHERE rowid IN
             (SELECT rowid FROM edge_rate_counters WHERE window < ? LIMIT {PRUNE_BATCH})
             RETURNING 1"
        ),
        &[Value::Integer(window - 1)],
    )?;
    Ok(deleted.rows.len())
}

/// The user's current session generation (0 until the first logout).
pub fn session_generation(db: &Database, user_id: &str) -> Result<u64, StoreError> {
    let generation = db.scalar(
        "SELECT generation FROM edge_sessions WHERE user_id = ?",
        &[Value::Text(user_id.to_string())],
    )?;
    Ok(u64::try_from(generation).unwrap_or(0))
}

/// Ends every session of the user: raises its generation, so that every token issued before
/// now is refused; returns the new generation.
pub fn end_sessions(db: &Database, user_id: &str) -> Result<u64, StoreError> {
    let generation = db.scalar(
        "INSERT INTO edge_sessions (user_id, generation, ended_at) VALUES (?, 1, ?)
         ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1, ended_at = excluded.ended_at
         RETURNING generation",
        &[
            Value::Text(user_id.to_string()),
            Value::Text(clock::now_rfc3339()),
        ],
    )?;
    Ok(u64::try_from(generation).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_minutes() {
        assert_eq!(window_of(0), 0);
        assert_eq!(window_of(59_999), 0);
        assert_eq!(window_of(60_000), 1);
        assert_eq!(window_of(-1), -1);
    }

    #[test]
    fn the_stale_check_spares_the_previous_window() {
        let check = stale_counters(100);
        assert!(matches!(check.parameters[..], [Value::Integer(99)]));
    }
}
