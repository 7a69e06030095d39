//! Login throttling: after [`ACCOUNT_LIMIT`] failed logins for one account, or
//! [`ADDRESS_LIMIT`] from one client address (across accounts and unknown emails alike, so a
//! 429 never tells which accounts exist), within [`WINDOW`], logins there answer 429 with
//! `Retry-After` until the window that began with the first failure has passed, the right
//! password included.
//!
//! An attempt is counted as a failure before its password is checked, in one statement for
//! both subjects, so concurrent guesses cannot all slip under the limit while each is being
//! verified; a login that succeeds takes its count back (and clears its account's). Old rows
//! go after responses ([`ForgetOldFailures`]).

use std::time::Duration;

use http_service::{Job, JobContext, JobFuture};
use store::{Check, Database, FromRow, RowView, StoreError, Value};

/// Failed logins one account may have within the window.
pub const ACCOUNT_LIMIT: i64 = 5;
/// Failed logins one client address may have within the window.
pub const ADDRESS_LIMIT: i64 = 20;
/// How long failures are remembered, from the first one.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

fn window_millis() -> i64 {
    i64::try_from(WINDOW.as_millis()).unwrap_or(i64::MAX)
}

/// What is counted: an account (its email key) and a client address bucket.
#[derive(Debug, Clone)]
pub struct Subjects {
    pub account: String,
    pub address: String,
}

impl Subjects {
    pub fn new(email_key: &str, address_bucket: &str) -> Self {
        Self {
            account: format!("account:{email_key}"),
            address: format!("address:{address_bucket}"),
        }
    }
}

/// A login refused for too many failures: seconds until the window passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after_secs: u64,
}

struct Counted {
    subject: String,
    failures: i64,
    first_failed_at: i64,
}

impl FromRow for Counted {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            subject: row.text("subject")?,
            failures: row.integer("failures")?,
            first_failed_at: row.integer("first_failed_at")?,
        })
    }
}

/// The verdict on counts: locked while either subject is over its limit.
pub fn verdict(
    account_failures: i64,
    address_failures: i64,
    locked_since: i64,
    now: i64,
) -> Result<(), Locked> {
    if account_failures <= ACCOUNT_LIMIT && address_failures <= ADDRESS_LIMIT {
        return Ok(());
    }
    let left = locked_since
        .saturating_add(window_millis())
        .saturating_sub(now);
    Err(Locked {
        retry_after_secs: u64::try_from(left.max(0))
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1),
    })
}

/// Counts this attempt as a failure for both subjects (starting a fresh window where the
/// last one has passed) and says whether it may go on.
pub fn begin(
    db: &Database,
    subjects: &Subjects,
    now: i64,
) -> Result<Result<(), Locked>, StoreError> {
    let expired_before = now - window_millis();
    let counted: Vec<Counted> = db.query(
        "INSERT INTO users_login_failures (subject, first_failed_at, failures)
         VALUES (?1, ?3, 1), (?2, ?3, 1)
         ON CONFLICT (subject) DO UPDATE SET
             failures = CASE WHEN first_failed_at <= ?4 THEN 1 ELSE failures + 1 END,
             first_failed_at = CASE WHEN first_failed_at <= ?4 THEN ?3 ELSE first_failed_at END
         RETURNING subject, failures, first_failed_at",
        &[
            Value::Text(subjects.account.clone()),
            Value::Text(subjects.address.clone()),
            Value::Integer(now),
            Value::Integer(expired_before),
        ],
    )?;
    let of = |subject: &str| counted.iter().find(|row| row.subject == subject);
    let (account, address) = (of(&subjects.account), of(&subjects.address));
    let failures = |row: Option<&Counted>| row.map_or(0, |row| row.failures);
    let over = |row: Option<&Counted>, limit: i64| {
        row.filter(|row| row.failures > limit)
            .map(|row| row.first_failed_at)
    };
    let locked_since = over(account, ACCOUNT_LIMIT)
        .into_iter()
        .chain(over(address, ADDRESS_LIMIT))
        .max()
        .unwrap_or(now);
    Ok(verdict(
        failures(account),
        failures(address),
        locked_since,
        now,
    ))
}

/// The attempt succeeded: its account's failures are cleared and its address's count
/// taken back.
pub fn succeeded(db: &Database, subjects: &Subjects) -> Result<(), StoreError> {
    db.execute(
        "UPDATE users_login_failures
         SET failures = CASE WHEN subject = ?1 THEN 0 ELSE MAX(failures - 1, 0) END
         WHERE subject IN (?1, ?2)",
        &[
            Value::Text(subjects.account.clone()),
            Value::Text(subjects.address.clone()),
        ],
    )?;
    Ok(())
}

/// Deletes failures whose window has passed, a batch after each response that finds some.
#[derive(Debug, Clone, Copy)]
pub struct ForgetOldFailures;

fn expired_before() -> i64 {
    platform::clock::now_millis() - window_millis()
}

impl Job for ForgetOldFailures {
    fn name(&self) -> &'static str {
        "forget old login failures"
    }

    fn check(&self, _ctx: &JobContext) -> Option<Check> {
        Some(Check::any(
            "users_login_failures",
            "first_failed_at < ?",
            vec![Value::Integer(expired_before())],
        ))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            let deleted = db.execute(
                "DELETE FROM users_login_failures WHERE rowid IN (
                     SELECT rowid FROM users_login_failures WHERE first_failed_at < ? LIMIT 500)",
                &[Value::Integer(expired_before())],
            );
            if let Err(error) = deleted {
                ctx.logger().warn(
                    "could not forget old login failures",
                    serde_json::json!({ "cause": error.to_string() }),
                );
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_locks_on_its_sixth_failure_and_an_address_on_its_twenty_first() {
        assert_eq!(verdict(5, 20, 0, 0), Ok(()));
        assert!(verdict(6, 1, 0, 0).is_err());
        assert!(verdict(1, 21, 0, 0).is_err());
    }

    #[test]
    fn retry_after_counts_to_the_end_of_the_window_that_began_with_the_first_failure() {
        let first = 1_000_000;
        let now = first + 60_000;

        let locked = verdict(6, 0, first, now).expect_err("locked");

        assert_eq!(locked.retry_after_secs, 15 * 60 - 60);
        assert_eq!(
            verdict(6, 0, first, first + window_millis() + 5).expect_err("still"),
            Locked {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn subjects_are_kept_apart_by_kind() {
        let subjects = Subjects::new("ann@example.com", "203.0.113.9");
        assert_eq!(subjects.account, "account:ann@example.com");
        assert_eq!(subjects.address, "address:203.0.113.9");
    }
}
