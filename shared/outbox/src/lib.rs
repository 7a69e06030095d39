//! The transactional outbox.
//!
//! A producing service writes each event ([`record`]) in the same SQLite transaction as the
//! change it describes, so an event exists exactly when its change does. [`deliver_pending`]
//! then pushes due events, oldest first and in bounded batches, to the notification service's
//! private `POST /events`, and marks each delivered on a 2xx. Producers run it as work after
//! every response ([`pending_check`] says cheaply whether there is any), so delivery never
//! adds to a client's wait; it is at least once, and the notification service takes an event
//! id once.
//!
//! An event whose delivery fails waits before its next try, twice as long after each failure
//! (from `outbox_retry_base_ms`, capped at an hour), and later events go out meanwhile: one
//! event that keeps failing blocks nobody. After `outbox_max_attempts` failures (by default
//! about a day of trying) it is dead-lettered: kept, logged as an error, counted in the
//! service's `/health`, listed for admins ([`dead_letters`]) who can send it again
//! ([`retry_dead_letter`]).
//!
//! Delivered events are deleted after the retention period ([`DELIVERED`]). An event still
//! undelivered when it is older than that period is dead-lettered instead of sent: the
//! notification service forgets event ids after that period, so a late copy of an event it
//! had taken (its answer lost to a timeout) would otherwise count as new.
//!
//! The outbox's tables are its own migration track ([`TRACK`]), applied to every producer.

use std::time::Duration;

use contracts::dead_letters::{DeadLetter, DeadLetterList, public_id};
use contracts::events::{Event, EventPayload};
use platform::variables::names::{OUTBOX_MAX_ATTEMPTS, OUTBOX_RETRY_BASE_MS};
use platform::{Logger, Service, Variables, clock};
use serde::Serialize;
use serde_json::json;
use service_client::{Caller, ServiceClient};
use spin_sdk::http::Method;
use store::{
    Check, Claim, Database, Expiry, FromRow, Listing, Migration, Page, Retention, RowView,
    StoreError, Track, Value,
};

/// The outbox's own migrations, the same in every producer's database. The first ones made
/// a table named `outbox` and moved it into the producer's namespace (`<label>_outbox`), as
/// earlier releases did; on a new database they run in one transaction.
pub const TRACK: Track = Track::new(
    "outbox",
    &[
        Migration {
            version: 1,
            description: "event outbox",
            statements: &[
                "CREATE TABLE outbox (
                    id TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    data TEXT NOT NULL,
                    occurred_at TEXT NOT NULL,
                    delivered_at TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT
                )",
                "CREATE INDEX outbox_pending ON outbox (occurred_at, id) WHERE delivered_at IS NULL",
            ],
        },
        Migration {
            version: 2,
            description: "outbox delivery lease",
            statements: &["ALTER TABLE outbox ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0"],
        },
        Migration {
            version: 3,
            description: "outbox named after the service",
            statements: &[
                "ALTER TABLE outbox RENAME TO {label}_outbox",
                "DROP INDEX outbox_pending",
                "CREATE INDEX {label}_outbox_pending ON {label}_outbox (occurred_at, id)
                 WHERE delivered_at IS NULL",
            ],
        },
        Migration {
            version: 4,
            description: "outbox back-off and dead letters",
            statements: &[
                "ALTER TABLE {label}_outbox ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE {label}_outbox ADD COLUMN dead_at TEXT",
                "DROP INDEX {label}_outbox_pending",
                "CREATE INDEX {label}_outbox_pending ON {label}_outbox (occurred_at, id)
                 WHERE delivered_at IS NULL AND dead_at IS NULL",
            ],
        },
        Migration {
            version: 5,
            description: "outbox dead letters indexed",
            statements: &[
                "CREATE INDEX {label}_outbox_dead ON {label}_outbox (id) WHERE dead_at IS NOT NULL",
            ],
        },
        Migration {
            version: 6,
            description: "outbox delivered events indexed for pruning",
            statements: &[
                "CREATE INDEX {label}_outbox_delivered ON {label}_outbox (delivered_at)
                 WHERE delivered_at IS NOT NULL",
            ],
        },
        Migration {
            version: 7,
            description: "outbox dead letters listed newest first",
            statements: &[
                "CREATE INDEX {label}_outbox_dead_newest ON {label}_outbox (occurred_at)
                 WHERE dead_at IS NOT NULL",
                "DROP INDEX {label}_outbox_dead",
            ],
        },
    ],
);

/// Delivered events, deleted once the retention period has passed since their delivery.
pub const DELIVERED: Expiry = Expiry {
    table: "{label}_outbox",
    finished: "delivered_at IS NOT NULL",
    since: "delivered_at",
};

/// How many events one delivery pass sends at most.
pub const BATCH_SIZE: i64 = 20;
/// Timeout of one delivery call.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Failures before an event is dead-lettered, unless `outbox_max_attempts` says otherwise:
/// with the default base, waits of 1 s doubling to the one-hour cap add up to about 24 hours.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 36;
/// The wait after a first failure, unless `outbox_retry_base_ms` says otherwise.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);
/// The longest wait between two tries of one event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

/// How long a delivery pass owns the events it claimed: twice what a whole batch takes when
/// every call times out and every update waits out a lock. If the instance dies mid-pass,
/// its events become claimable again after it.
pub const LEASE: Duration =
    Duration::from_secs(2 * BATCH_SIZE as u64 * (DELIVERY_TIMEOUT.as_secs() + 10));

/// How failed deliveries are retried, from the producer's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base: Duration,
}

impl RetryPolicy {
    /// `outbox_max_attempts` and `outbox_retry_base_ms`, or the defaults.
    pub fn from_variables(variables: &Variables) -> Self {
        let positive = |name| variables.u64(name).filter(|value| *value > 0);
        Self {
            max_attempts: positive(OUTBOX_MAX_ATTEMPTS)
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(DEFAULT_MAX_ATTEMPTS),
            base: positive(OUTBOX_RETRY_BASE_MS)
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_RETRY_BASE),
        }
    }

    /// How long to wait after the `attempts`-th failure: the base, doubled per earlier failure.
    pub fn delay_after(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(MAX_RETRY_DELAY)
    }

    /// Whether the `attempts`-th failure is the last one.
    pub fn gives_up_after(&self, attempts: i64) -> bool {
        attempts >= self.max_attempts
    }

    /// How long an event is tried in all, from its first failure to its last.
    pub fn patience(&self) -> Duration {
        (1..self.max_attempts)
            .map(|attempt| self.delay_after(attempt))
            .sum()
    }
}

/// The outbox table of the service that owns `db`.
fn table(db: &Database) -> String {
    format!("{}_outbox", db.label())
}

/// Writes an event inside the caller's open transaction; returns its id.
pub fn record(
    db: &Database,
    source: Service,
    payload: &EventPayload,
) -> Result<String, StoreError> {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    db.execute(
        &format!(
            "INSERT INTO {} (id, type, source, data, occurred_at) VALUES (?, ?, ?, ?, ?)",
            table(db)
        ),
        &[
            Value::Text(id.clone()),
            Value::Text(payload.event_type().to_string()),
            Value::Text(source.id().to_string()),
            Value::Text(payload.data().to_string()),
            Value::Text(clock::now_rfc3339()),
        ],
    )?;
    Ok(id)
}

/// Events that may be sent now, as of `?1`: not delivered, not dead, not held by another
/// pass, not waiting out a back-off (read on the pending index).
const DUE: &str =
    "delivered_at IS NULL AND dead_at IS NULL AND claimed_until <= ?1 AND next_attempt_at <= ?1";
/// Events still undelivered past the retention period (occurred before `?1`) and not held by
/// a pass as of `?2` (on the pending index too).
const EXPIRED: &str =
    "delivered_at IS NULL AND dead_at IS NULL AND occurred_at < ?1 AND claimed_until <= ?2";

/// `condition` with its numbered parameters (`?1`, `?2`) made plain `?` in order of use, for a
/// [`Check`] (whose parameters are given in the order they appear).
fn plain(condition: &str) -> String {
    let mut plain = String::with_capacity(condition.len());
    let mut chars = condition.chars().peekable();
    while let Some(c) = chars.next() {
        plain.push(c);
        if c == '?' {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        }
    }
    plain
}

/// Whether a delivery pass has anything to do: an event due now, or one to dead-letter for
/// its age.
pub fn pending_check(label: &str, now_millis: i64, cutoff: Option<&str>) -> Check {
    let outbox = format!("{label}_outbox");
    let due = Check::any(
        &outbox,
        &plain(DUE),
        vec![Value::Integer(now_millis), Value::Integer(now_millis)],
    );
    match cutoff {
        None => due,
        Some(cutoff) => due.or(Check::any(
            &outbox,
            &plain(EXPIRED),
            vec![Value::Text(cutoff.to_string()), Value::Integer(now_millis)],
        )),
    }
}

struct Claimed {
    event: Event,
    attempts: i64,
}

impl FromRow for Claimed {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            event: Event {
                id: row.text("id")?,
                event_type: row.text("type")?,
                source: row.text("source")?,
                data: row.json("data")?,
                occurred_at: row.text("occurred_at")?,
            },
            attempts: row.integer("attempts")?,
        })
    }
}

/// Claims up to `limit` of the oldest due events until `lease_until` (epoch milliseconds),
/// oldest first: concurrent passes send disjoint events.
fn claim(
    db: &Database,
    now_millis: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let outbox = table(db);
    let claimed = db.claim(
        &Claim {
            table: &outbox,
            key: "id",
            due: DUE,
            order_by: "occurred_at, id",
            limit,
            set: "claimed_until = ?2",
            returning: "id, type, source, data, occurred_at, attempts",
        },
        &[Value::Integer(now_millis), Value::Integer(lease_until)],
    )?;
    let mut events: Vec<Claimed> = db.read_rows(&claimed)?;
    // RETURNING has no defined order.
    events.sort_by(|a, b| {
        (&a.event.occurred_at, &a.event.id).cmp(&(&b.event.occurred_at, &b.event.id))
    });
    Ok(events)
}

/// What delivering one event came to.
enum Outcome {
    Delivered,
    /// Tried again at `next_attempt_at` (epoch milliseconds).
    Retry {
        next_attempt_at: i64,
    },
    DeadLettered,
}

/// Records the outcome of one try of `claimed`, if this pass (whose claim runs until
/// `lease_until`) still holds it.
fn settle(
    db: &Database,
    claimed: &Claimed,
    lease_until: i64,
    failure: Option<&str>,
    policy: &RetryPolicy,
) -> Result<Outcome, StoreError> {
    let outbox = table(db);
    let now = clock::now_millis();
    let id = Value::Text(claimed.event.id.clone());
    let Some(reason) = failure else {
        // Delivered is delivered, whoever holds the claim now.
        db.execute(
            &format!(
                "UPDATE {outbox} SET delivered_at = ?, attempts = attempts + 1, last_error = NULL,
                 claimed_until = 0 WHERE id = ? AND delivered_at IS NULL"
            ),
            &[Value::Text(clock::rfc3339_from_millis(now)), id],
        )?;
        return Ok(Outcome::Delivered);
    };
    let failures = claimed.attempts + 1;
    let (outcome, dead_at, next_attempt_at) = if policy.gives_up_after(failures) {
        let dead_at = Value::Text(clock::rfc3339_from_millis(now));
        (Outcome::DeadLettered, dead_at, now)
    } else {
        let wait = i64::try_from(policy.delay_after(failures).as_millis()).unwrap_or(i64::MAX);
        let next_attempt_at = now.saturating_add(wait);
        (
            Outcome::Retry { next_attempt_at },
            Value::Null,
            next_attempt_at,
        )
    };
    db.execute(
        &format!(
            "UPDATE {outbox} SET attempts = ?, last_error = ?, next_attempt_at = ?, dead_at = ?,
             claimed_until = 0 WHERE id = ? AND delivered_at IS NULL AND claimed_until = ?"
        ),
        &[
            Value::Integer(failures),
            Value::Text(reason.to_string()),
            Value::Integer(next_attempt_at),
            dead_at,
            id,
            Value::Integer(lease_until),
        ],
    )?;
    Ok(outcome)
}

/// What a delivery pass works with: the producer's database, who calls, and its logger.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub db: &'a Database,
    pub caller: Caller<'a>,
    pub logger: &'a Logger,
}

/// Sends every due event (up to a batch) to the notification service, each on its own: a
/// failure delays that event and moves on to the next. Also dead-letters events past the
/// retention period and deletes delivered ones past it. Returns how many were delivered.
/// Failures are logged; storage errors end the pass and leave the events to a later one.
pub async fn deliver_pending(delivery: Delivery<'_>) -> usize {
    let Delivery { db, caller, logger } = delivery;
    let variables = caller.variables;
    let policy = RetryPolicy::from_variables(variables);
    store::retention::prune_expired(db, variables, logger, &DELIVERED);
    dead_letter_expired(db, variables, logger);
    let now = clock::now_millis();
    let lease_until = now.saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
    let events = match claim(db, now, lease_until, BATCH_SIZE) {
        Ok(events) => events,
        Err(error) => {
            logger.error("outbox claim failed", json!({ "cause": error.to_string() }));
            return 0;
        }
    };
    if events.is_empty() {
        return 0;
    }
    let client = ServiceClient::to(Service::Notifications, variables, DELIVERY_TIMEOUT);
    let mut delivered = 0;
    for claimed in events {
        let body = serde_json::to_vec(&claimed.event).unwrap_or_default();
        let sent = client
            .send(caller, Method::Post, "/events", &[], Some(body))
            .await;
        let failure = match &sent {
            Ok(answer) if answer.is_success() => None,
            Ok(answer) => Some(format!("status {}", answer.status)),
            Err(error) => Some(error.to_string()),
        };
        let mut fields = json!({
            "eventId": claimed.event.id, "type": claimed.event.event_type, "cause": failure,
        });
        match settle(db, &claimed, lease_until, failure.as_deref(), &policy) {
            Ok(Outcome::Delivered) => delivered += 1,
            Ok(Outcome::Retry { next_attempt_at }) => {
                fields["nextAttemptAt"] = json!(clock::rfc3339_from_millis(next_attempt_at));
                logger.warn("event delivery failed; it will be retried", fields);
            }
            Ok(Outcome::DeadLettered) => {
                fields["attempts"] = json!(claimed.attempts + 1);
                logger.error(
                    "event dead-lettered after its last delivery attempt",
                    fields,
                );
            }
            Err(error) => {
                fields["storage"] = json!(error.to_string());
                logger.error("outbox update failed", fields);
                break;
            }
        }
    }
    delivered
}

/// Dead-letters a batch of events that are older than the retention period and still not
/// delivered (nor held by a pass sending them now), logging each as an error.
fn dead_letter_expired(db: &Database, variables: &Variables, logger: &Logger) {
    let now = clock::now_millis();
    let Some(cutoff) = Retention::from_variables(variables).cutoff(now) else {
        return;
    };
    let outbox = table(db);
    let parameters = [
        Value::Text(cutoff),
        Value::Integer(now),
        Value::Text(clock::rfc3339_from_millis(now)),
        Value::Text("older than the retention period; not sent".to_string()),
    ];
    let outcome = db.any(&outbox, EXPIRED, &parameters[..2]).and_then(|any| {
        if !any {
            return Ok(Vec::new());
        }
        let dead = db.claim(
            &Claim {
                table: &outbox,
                key: "id",
                due: EXPIRED,
                order_by: "occurred_at",
                limit: BATCH_SIZE,
                set: "dead_at = ?3, last_error = ?4",
                returning: "id, type",
            },
            &parameters,
        )?;
        Ok(dead.rows)
    });
    match outcome {
        Ok(rows) => {
            for row in rows {
                logger.error(
                    "event dead-lettered: still undelivered after the retention period",
                    json!({ "event": format!("{:?}", row.values) }),
                );
            }
        }
        Err(error) => logger.error(
            "could not dead-letter events past the retention period",
            json!({ "cause": error.to_string() }),
        ),
    }
}

/// Events waiting to go out and events given up on, for a producer's `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxHealth {
    pub pending: i64,
    pub dead_lettered: i64,
}

/// Counts the outbox's pending and dead-lettered events, in one statement. Each count reads
/// only its partial index: delivered events, the bulk of the table, are never visited.
pub fn health(db: &Database) -> Result<OutboxHealth, StoreError> {
    let table = table(db);
    let counts = db.query_one(
        &format!(
            "SELECT
                 (SELECT COUNT(*) FROM {table} WHERE delivered_at IS NULL AND dead_at IS NULL)
                     AS pending,
                 (SELECT COUNT(*) FROM {table} WHERE dead_at IS NOT NULL) AS dead_lettered"
        ),
        &[],
    )?;
    Ok(counts.unwrap_or(OutboxHealth {
        pending: 0,
        dead_lettered: 0,
    }))
}

impl FromRow for OutboxHealth {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            pending: row.integer("pending")?,
            dead_lettered: row.integer("dead_lettered")?,
        })
    }
}

struct DeadRow(DeadLetter);

impl FromRow for DeadRow {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        let source = row.text("source")?;
        Ok(Self(DeadLetter {
            id: public_id(&source, &row.text("id")?),
            event_type: row.text("type")?,
            source,
            attempts: row.integer("attempts")?,
            last_error: row.optional_text("last_error")?,
            created_at: row.text("occurred_at")?,
        }))
    }
}

/// This producer's `first` newest dead letters, and how many it has.
pub fn dead_letters(db: &Database, first: u32) -> Result<DeadLetterList, StoreError> {
    let from = format!("FROM {} WHERE dead_at IS NOT NULL", table(db));
    let (rows, total) = db.page::<DeadRow>(
        &Listing {
            columns: "id, type, source, attempts, last_error, occurred_at",
            from: &from,
            order_by: "occurred_at DESC, id DESC",
            parameters: Vec::new(),
        },
        Page {
            number: 1,
            size: first.max(1),
        },
    )?;
    Ok(DeadLetterList {
        items: rows.into_iter().map(|row| row.0).collect(),
        total,
    })
}

/// What asking to send a dead letter again came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Back to pending, with a fresh count of attempts: the next pass sends it.
    Pending,
    /// No dead letter has this id here.
    NotFound,
    /// It is older than the retention period: the notification service may have taken it
    /// and forgotten its id, so sending it again could notify twice. It stays dead.
    TooOld,
}

/// Puts the dead letter `event_id` back to pending.
pub fn retry_dead_letter(
    db: &Database,
    event_id: &str,
    variables: &Variables,
) -> Result<Retried, StoreError> {
    let outbox = table(db);
    let cutoff = Retention::from_variables(variables).cutoff(clock::now_millis());
    let occurred = db.query_one::<Occurred>(
        &format!("SELECT occurred_at FROM {outbox} WHERE id = ? AND dead_at IS NOT NULL"),
        &[Value::Text(event_id.to_string())],
    )?;
    let Some(Occurred(occurred_at)) = occurred else {
        return Ok(Retried::NotFound);
    };
    if cutoff.is_some_and(|cutoff| occurred_at < cutoff) {
        return Ok(Retried::TooOld);
    }
    let changed = db.execute(
        &format!(
            "UPDATE {outbox} SET dead_at = NULL, attempts = 0, next_attempt_at = 0,
             claimed_until = 0 WHERE id = ? AND dead_at IS NOT NULL RETURNING id"
        ),
        &[Value::Text(event_id.to_string())],
    )?;
    Ok(if changed.rows.is_empty() {
        Retried::NotFound
    } else {
        Retried::Pending
    })
}

struct Occurred(String);

impl FromRow for Occurred {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self(row.text("occurred_at")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_the_base_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(500),
        };

        assert_eq!(policy.delay_after(1), Duration::from_millis(500));
        assert_eq!(policy.delay_after(2), Duration::from_secs(1));
        assert_eq!(policy.delay_after(4), Duration::from_secs(4));
        assert_eq!(policy.delay_after(40), MAX_RETRY_DELAY);
        assert!(!policy.gives_up_after(4));
        assert!(policy.gives_up_after(5));
    }

    #[test]
    fn by_default_an_event_is_tried_for_about_a_day_with_waits_of_at_most_an_hour() {
        let policy = RetryPolicy::from_variables(&Variables::fixed(&[]));

        let patience = policy.patience();

        assert!(
            patience >= Duration::from_secs(22 * 3600)
                && patience <= Duration::from_secs(26 * 3600),
            "{patience:?}"
        );
        assert!((1..policy.max_attempts).all(|n| policy.delay_after(n) <= MAX_RETRY_DELAY));
    }

    #[test]
    fn numbered_parameters_become_plain_ones_in_order() {
        assert_eq!(
            plain("a <= ?1 AND b <= ?1 AND c < ?2"),
            "a <= ? AND b <= ? AND c < ?"
        );
        assert_eq!(plain("x = ?"), "x = ?");
    }

    #[test]
    fn the_pending_check_asks_for_due_events_and_with_a_cutoff_for_expired_ones() {
        let without = pending_check("users", 10, None);
        let with = pending_check("users", 10, Some("2026-01-01T00:00:00.000Z"));

        assert!(without.sql.contains("users_outbox"));
        assert_eq!(without.parameters.len(), 2);
        assert_eq!(with.parameters.len(), 4);
        assert!(with.sql.contains(" OR "));
    }
}
