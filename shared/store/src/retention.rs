//! Finished records are deleted once the retention period (`retention_days`) has passed, a
//! batch at a time, each kind found through an index of its own so that a pass with nothing
//! to delete is one indexed read and takes no write lock.

use platform::variables::names::RETENTION_DAYS;
use platform::{Logger, Variables};
use serde_json::json;

use crate::{Check, Database, StoreError, Value};

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

    /// The component's `retention_days`.
    pub fn from_variables(variables: &Variables) -> Self {
        Self::parse(variables.text(RETENTION_DAYS).as_deref())
    }

    /// The time (RFC 3339, as the tables store it) before which a finished record is deleted,
    /// as of `now_millis`; `None` keeps everything.
    pub fn cutoff(self, now_millis: i64) -> Option<String> {
        match self {
            Self::Forever => None,
            Self::Days(days) => Some(platform::clock::rfc3339_from_millis(
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

    /// Whether `label`'s table has a record to prune before `cutoff`.
    pub fn check(&self, label: &str, cutoff: &str) -> Check {
        Check::any(
            &self.table_of(label),
            &format!("{} AND {} < ?", self.finished, self.since),
            vec![Value::Text(cutoff.to_string())],
        )
    }
}

impl Database {
    /// Deletes up to [`PRUNE_BATCH`] records that `expiry` selects and whose age passed
    /// `cutoff`; returns how many went. It reads first, so a pass with nothing to delete
    /// takes no write lock.
    pub fn prune(&self, expiry: &Expiry, cutoff: &str) -> Result<usize, StoreError> {
        let found = self.any(
            &expiry.table_of(self.label()),
            &expiry.condition(),
            &[Value::Text(cutoff.to_string())],
        )?;
        if !found {
            return Ok(0);
        }
        self.delete_batch(expiry, cutoff)
    }

    /// [`Database::prune`] without its read: for a caller whose check just found records.
    pub fn delete_batch(&self, expiry: &Expiry, cutoff: &str) -> Result<usize, StoreError> {
        let table = expiry.table_of(self.label());
        let deleted = self.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN
                 (SELECT rowid FROM {table} WHERE {} LIMIT {PRUNE_BATCH}) RETURNING 1",
                expiry.condition()
            ),
            &[Value::Text(cutoff.to_string())],
        )?;
        Ok(deleted.rows.len())
    }
}

/// How a pass deletes a batch: [`Database::prune`] or [`Database::delete_batch`].
type DeleteBatch = fn(&Database, &Expiry, &str) -> Result<usize, StoreError>;

/// Deletes a batch of `expiry`'s finished records older than the retention period, reading
/// first, and logs what went; a failure is logged and left to a later pass.
pub fn prune_expired(db: &Database, variables: &Variables, logger: &Logger, expiry: &Expiry) {
    prune_logged(db, variables, logger, expiry, Database::prune);
}

/// [`prune_expired`] for a job whose check just found such records: no second read.
pub fn prune_found(db: &Database, variables: &Variables, logger: &Logger, expiry: &Expiry) {
    prune_logged(db, variables, logger, expiry, Database::delete_batch);
}

fn prune_logged(
    db: &Database,
    variables: &Variables,
    logger: &Logger,
    expiry: &Expiry,
    delete: DeleteBatch,
) {
    let now = platform::clock::now_millis();
    let Some(cutoff) = Retention::from_variables(variables).cutoff(now) else {
        return;
    };
    let table = expiry.table_of(db.label());
    match delete(db, expiry, &cutoff) {
        Ok(0) => {}
        Ok(deleted) => logger.info(
            "deleted records past the retention period",
            json!({ "table": table, "deleted": deleted, "before": cutoff }),
        ),
        Err(error) => logger.error(
            "could not delete records past the retention period",
            json!({ "table": table, "cause": error.to_string() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_expiry_names_its_table_per_label_and_selects_by_age() {
        let expiry = Expiry {
            table: "{label}_outbox",
            finished: "delivered_at IS NOT NULL",
            since: "delivered_at",
        };
        assert_eq!(expiry.table_of("users"), "users_outbox");
        assert_eq!(
            expiry.condition(),
            "delivered_at IS NOT NULL AND delivered_at < ?1"
        );
    }
}
