//! The transactional outbox.
//!
//! A producing service writes each event ([`record`]) in the same SQLite transaction as the
//! change it describes, so an event exists exactly when its change does. [`deliver_pending`]
//! then pushes due events, oldest first and in bounded batches, to the notification service's
//! private `POST /events`, and marks each delivered on a 2xx. Producers call it after their
//! response has been sent, so delivery never adds to a client's wait, and again on later
//! requests: delivery is at least once, and the notification service takes an event id once.
//!
//! An event whose delivery fails waits before its next try, twice as long after each failure
//! (from `outbox_retry_base_ms`, capped at an hour), and later events go out meanwhile: one
//! event that keeps failing blocks nobody. After `outbox_max_attempts` failures it is
//! dead-lettered: kept, logged as an error, counted in the service's `/health`, and not tried
//! again.
//!
//! Delivered events are kept for the retention period (`retention_days`) and then deleted by
//! the delivery passes ([`prune_expired`], which services also use for their own finished
//! records). Dead letters are never deleted: they wait for an operator. An event still
//! undelivered when it is older than the retention period is dead-lettered instead of sent:
//! the notification service forgets event ids after that period, so a late copy of an event
//! it had taken (its answer lost to a timeout) would otherwise count as new.

use std::time::Duration;

use contracts::events::{Event, EventPayload};
use std::rc::Rc;

use response_handler::{ApiResult, RequestContext};
use serde::Serialize;
use serde_json::Value;
use service_client::ServiceClient;
use spin_sdk::http::Method;
use spin_sdk::sqlite::Value as Sql;
use store::{Database, Expiry, Migration, Retention, StoreError};

/// The migration that creates the outbox table, at `version` of a producer's list. It is
/// named `outbox` here (as it was first released) and moved to `<label>_outbox` by
/// [`namespace_migration`], in the same transaction on a new database.
pub const fn table_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "event outbox",
        statements: TABLE_STATEMENTS,
    }
}

/// The migration that moves the outbox into the producer's namespace (`<label>_outbox`), so
/// producers can share one database, at `version` of its list (after [`lease_migration`]).
pub const fn namespace_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "outbox named after the service",
        statements: &[
            "ALTER TABLE outbox RENAME TO {label}_outbox",
            "DROP INDEX outbox_pending",
            "CREATE INDEX {label}_outbox_pending ON {label}_outbox (occurred_at, id)
             WHERE delivered_at IS NULL",
        ],
    }
}

/// The migration that indexes dead letters, so that `/health` counts them (and the pending
/// events, on the pending index) without reading every event ever recorded, at `version` of a
/// producer's list (after [`retry_migration`]).
pub const fn dead_letter_index_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "outbox dead letters indexed",
        statements: &[
            "CREATE INDEX {label}_outbox_dead ON {label}_outbox (id) WHERE dead_at IS NOT NULL",
        ],
    }
}

/// The migration that indexes delivered events by delivery time, so that pruning them
/// ([`DELIVERED`]) finds the old ones without reading the rest, at `version` of a producer's
/// list (after [`retry_migration`]).
pub const fn delivered_index_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "outbox delivered events indexed for pruning",
        statements: &[
            "CREATE INDEX {label}_outbox_delivered ON {label}_outbox (delivered_at)
             WHERE delivered_at IS NOT NULL",
        ],
    }
}

/// Delivered events, deleted once the retention period has passed since their delivery.
pub const DELIVERED: Expiry = Expiry {
    table: "{label}_outbox",
    finished: "delivered_at IS NOT NULL",
    since: "delivered_at",
};

/// The migration that adds per-event back-off and dead-lettering, at `version` of a
/// producer's list (after [`namespace_migration`]).
pub const fn retry_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "outbox back-off and dead letters",
        statements: &[
            "ALTER TABLE {label}_outbox ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE {label}_outbox ADD COLUMN dead_at TEXT",
            "DROP INDEX {label}_outbox_pending",
            "CREATE INDEX {label}_outbox_pending ON {label}_outbox (occurred_at, id)
             WHERE delivered_at IS NULL AND dead_at IS NULL",
        ],
    }
}

/// The migration that adds the delivery lease, at `version` of a producer's list (after
/// [`table_migration`]).
pub const fn lease_migration(version: i64) -> Migration {
    Migration {
        version,
        description: "outbox delivery lease",
        statements: &["ALTER TABLE outbox ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0"],
    }
}

/// The outbox table of the service that owns `db`.
fn table(db: &Database) -> String {
    format!("{}_outbox", db.label())
}

const TABLE_STATEMENTS: &[&str] = &[
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
];

/// How many events one delivery pass sends at most.
pub const BATCH_SIZE: i64 = 20;
/// Timeout of one delivery call.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Failures before an event is dead-lettered, unless `outbox_max_attempts` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 10;
/// The wait after a first failure, unless `outbox_retry_base_ms` says otherwise.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);
/// The longest wait between two tries of one event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

/// How failed deliveries are retried, from the producer's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base: Duration,
}

impl RetryPolicy {
    /// `outbox_max_attempts` and `outbox_retry_base_ms`, or the defaults.
    pub fn from_variables() -> Self {
        let number = |name: &str| response_handler::variable_u64(name).filter(|value| *value > 0);
        Self {
            max_attempts: number("outbox_max_attempts")
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(DEFAULT_MAX_ATTEMPTS),
            base: number("outbox_retry_base_ms")
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
}

/// Writes an event inside the caller's open transaction; returns its id.
pub fn record(db: &Database, source: &str, payload: &EventPayload) -> Result<String, StoreError> {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    db.execute(
        &format!(
            "INSERT INTO {} (id, type, source, data, occurred_at) VALUES (?, ?, ?, ?, ?)",
            table(db)
        ),
        &[
            Sql::Text(id.clone()),
            Sql::Text(payload.event_type().to_string()),
            Sql::Text(source.to_string()),
            Sql::Text(payload.data().to_string()),
            Sql::Text(envelope::now_rfc3339()),
        ],
    )?;
    Ok(id)
}

/// How long a delivery pass owns the events it claimed: twice what a whole batch takes when
/// every call times out and every update waits out SQLite's busy timeout. If the instance
/// dies mid-pass, its events become claimable again after it.
pub const LEASE: Duration =
    Duration::from_secs(2 * BATCH_SIZE as u64 * (DELIVERY_TIMEOUT.as_secs() + 5));

fn event_from_row(row: spin_sdk::sqlite::Row<'_>) -> Option<Event> {
    Some(Event {
        id: row.get::<&str>("id")?.to_string(),
        event_type: row.get::<&str>("type")?.to_string(),
        source: row.get::<&str>("source")?.to_string(),
        data: serde_json::from_str(row.get::<&str>("data")?).unwrap_or(Value::Null),
        occurred_at: row.get::<&str>("occurred_at")?.to_string(),
    })
}

/// Claims up to `limit` of the oldest events that are due (not delivered, not dead, not held
/// by another pass, not waiting out a back-off), until `lease_until` (epoch milliseconds),
/// and returns them oldest first, each with its failures so far. Concurrent passes therefore
/// send disjoint events: without the claim, every request under load would resend the same
/// batch.
pub fn claim(
    db: &Database,
    now_millis: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<(Event, i64)>, StoreError> {
    let outbox = table(db);
    let due = "delivered_at IS NULL AND dead_at IS NULL AND claimed_until <= ?1 AND next_attempt_at <= ?1";
    // A read first, so the common case (nothing due) takes no write lock.
    let available = db.execute(
        &format!("SELECT 1 FROM {outbox} WHERE {due} LIMIT 1"),
        &[Sql::Integer(now_millis)],
    )?;
    if available.rows.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db.execute(
        &format!(
            "UPDATE {outbox} SET claimed_until = ?2 WHERE id IN (
                 SELECT id FROM {outbox} WHERE {due} ORDER BY occurred_at, id LIMIT ?3)
             RETURNING id, type, source, data, occurred_at, attempts"
        ),
        &[
            Sql::Integer(now_millis),
            Sql::Integer(lease_until),
            Sql::Integer(limit),
        ],
    )?;
    let mut events: Vec<(Event, i64)> = rows
        .rows()
        .filter_map(|row| {
            let attempts = row.get::<i64>("attempts").unwrap_or(0);
            event_from_row(row).map(|event| (event, attempts))
        })
        .collect();
    // RETURNING has no defined order.
    events.sort_by(|(a, _), (b, _)| (&a.occurred_at, &a.id).cmp(&(&b.occurred_at, &b.id)));
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

/// Records the outcome of one try of `event`, which had failed `attempts` times before, if this
/// pass (whose claim runs until `lease_until`) still holds it.
fn settle(
    db: &Database,
    event: &Event,
    lease_until: i64,
    attempts: i64,
    failure: Option<&str>,
    policy: &RetryPolicy,
) -> Result<Outcome, StoreError> {
    let outbox = table(db);
    let now = envelope::now_millis();
    let Some(reason) = failure else {
        // Delivered is delivered, whoever holds the claim now.
        db.execute(
            &format!(
                "UPDATE {outbox} SET delivered_at = ?, attempts = attempts + 1, last_error = NULL,
                 claimed_until = 0 WHERE id = ? AND delivered_at IS NULL"
            ),
            &[
                Sql::Text(envelope::rfc3339_from_millis(now)),
                Sql::Text(event.id.clone()),
            ],
        )?;
        return Ok(Outcome::Delivered);
    };
    let failures = attempts + 1;
    let (outcome, dead_at, next_attempt_at) = if policy.gives_up_after(failures) {
        let dead_at = Sql::Text(envelope::rfc3339_from_millis(now));
        (Outcome::DeadLettered, dead_at, now)
    } else {
        let wait = i64::try_from(policy.delay_after(failures).as_millis()).unwrap_or(i64::MAX);
        let next_attempt_at = now.saturating_add(wait);
        (
            Outcome::Retry { next_attempt_at },
            Sql::Null,
            next_attempt_at,
        )
    };
    db.execute(
        &format!(
            "UPDATE {outbox} SET attempts = ?, last_error = ?, next_attempt_at = ?, dead_at = ?,
             claimed_until = 0 WHERE id = ? AND delivered_at IS NULL AND claimed_until = ?"
        ),
        &[
            Sql::Integer(failures),
            Sql::Text(reason.to_string()),
            Sql::Integer(next_attempt_at),
            dead_at,
            Sql::Text(event.id.clone()),
            Sql::Integer(lease_until),
        ],
    )?;
    Ok(outcome)
}

/// Sends every due event (up to a batch) to the notification service, each on its own: a
/// failure delays that event and moves on to the next. Returns how many were delivered.
/// Failures are logged; storage errors end the pass and leave the events to a later one.
pub async fn deliver_pending(ctx: &RequestContext, db: &Database) -> usize {
    let client = ServiceClient::from_variable(
        "notification-service",
        "notification_service_url",
        DELIVERY_TIMEOUT,
    );
    let policy = RetryPolicy::from_variables();
    // Whether or not events are due: a pass is also when old delivered ones go.
    prune_expired(ctx, db, &[DELIVERED]);
    dead_letter_expired(ctx, db);
    let now = envelope::now_millis();
    let lease_until = now.saturating_add(LEASE.as_millis() as i64);
    let events = match claim(db, now, lease_until, BATCH_SIZE) {
        Ok(events) => events,
        Err(error) => {
            ctx.logger.error(
                "outbox claim failed",
                serde_json::json!({ "cause": error.to_string() }),
            );
            return 0;
        }
    };
    let mut delivered = 0;
    for (event, attempts) in events {
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let sent = client
            .send(ctx, Method::Post, "/events", &[], Some(body))
            .await;
        let failure = match &sent {
            Ok(answer) if answer.is_success() => None,
            Ok(answer) => Some(format!("status {}", answer.status)),
            Err(error) => Some(error.to_string()),
        };
        let fields =
            serde_json::json!({ "eventId": event.id, "type": event.event_type, "cause": failure });
        match settle(
            db,
            &event,
            lease_until,
            attempts,
            failure.as_deref(),
            &policy,
        ) {
            Ok(Outcome::Delivered) => delivered += 1,
            Ok(Outcome::Retry { next_attempt_at }) => ctx.logger.warn(
                "event delivery failed; it will be retried",
                with_field(
                    fields,
                    "nextAttemptAt",
                    envelope::rfc3339_from_millis(next_attempt_at),
                ),
            ),
            Ok(Outcome::DeadLettered) => ctx.logger.error(
                "event dead-lettered after its last delivery attempt",
                with_field(fields, "attempts", (attempts + 1).to_string()),
            ),
            Err(error) => {
                ctx.logger.error(
                    "outbox update failed",
                    with_field(fields, "storage", error.to_string()),
                );
                break;
            }
        }
    }
    delivered
}

/// Dead-letters a batch of events that are older than the retention period and still not
/// delivered (nor held by a pass sending them now), logging each as an error.
fn dead_letter_expired(ctx: &RequestContext, db: &Database) {
    let now = envelope::now_millis();
    let Some(cutoff) = Retention::from_variables().cutoff(now) else {
        return;
    };
    let outbox = table(db);
    // On the pending index, whose first column is `occurred_at`.
    let expired =
        "delivered_at IS NULL AND dead_at IS NULL AND occurred_at < ?1 AND claimed_until <= ?2";
    let parameters = [Sql::Text(cutoff), Sql::Integer(now)];
    let outcome = db
        .execute(&format!("SELECT 1 FROM {outbox} WHERE {expired} LIMIT 1"), &parameters)
        .and_then(|any| {
            if any.rows.is_empty() {
                return Ok(Vec::new());
            }
            let dead = db.execute(
                &format!(
                    "UPDATE {outbox} SET dead_at = ?3, last_error = ?4 WHERE id IN
                     (SELECT id FROM {outbox} WHERE {expired} LIMIT {BATCH_SIZE}) RETURNING id, type"
                ),
                &[
                    parameters[0].clone(),
                    parameters[1].clone(),
                    Sql::Text(envelope::rfc3339_from_millis(now)),
                    Sql::Text("older than the retention period; not sent".to_string()),
                ],
            )?;
            Ok(dead
                .rows()
                .map(|row| {
                    serde_json::json!({
                        "eventId": row.get::<&str>("id"),
                        "type": row.get::<&str>("type"),
                    })
                })
                .collect())
        });
    match outcome {
        Ok(events) => {
            for event in events {
                ctx.logger.error(
                    "event dead-lettered: still undelivered after the retention period",
                    event,
                );
            }
        }
        Err(error) => ctx.logger.error(
            "could not dead-letter events past the retention period",
            serde_json::json!({ "cause": error.to_string() }),
        ),
    }
}

/// Runs [`prune_expired`] once the response has been sent, on `db`.
pub fn prune_expired_after_response(
    ctx: &Rc<RequestContext>,
    db: Database,
    expiries: &'static [Expiry],
) {
    let ctx_for_work = ctx.clone();
    ctx.after_response(async move {
        prune_expired(&ctx_for_work, &db, expiries);
    });
}

/// Deletes a batch of each kind of finished record in `expiries` that is older than the
/// retention period (`retention_days`), logging what went; failures are logged and left to a
/// later pass.
pub fn prune_expired(ctx: &RequestContext, db: &Database, expiries: &[Expiry]) {
    let Some(cutoff) = Retention::from_variables().cutoff(envelope::now_millis()) else {
        return;
    };
    for expiry in expiries {
        let table = expiry.table_of(db.label());
        match db.prune(expiry, &cutoff) {
            Ok(0) => {}
            Ok(deleted) => ctx.logger.info(
                "deleted records past the retention period",
                serde_json::json!({ "table": table, "deleted": deleted, "before": cutoff }),
            ),
            Err(error) => ctx.logger.error(
                "could not delete records past the retention period",
                serde_json::json!({ "table": table, "cause": error.to_string() }),
            ),
        }
    }
}

fn with_field(mut fields: Value, name: &str, value: String) -> Value {
    fields[name] = Value::String(value);
    fields
}

/// Events waiting to go out and events given up on, for a producer's `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxHealth {
    pub pending: i64,
    pub dead_lettered: i64,
}

/// Delivers pending events once the response has been sent (a producer's write requests call
/// this), with the database `open` gives.
pub fn deliver_after_response<E: std::fmt::Display>(
    ctx: &Rc<RequestContext>,
    open: impl FnOnce() -> Result<Database, E> + 'static,
) {
    let ctx_for_work = ctx.clone();
    ctx.after_response(async move {
        match open() {
            Ok(db) => {
                deliver_pending(&ctx_for_work, &db).await;
            }
            Err(error) => ctx_for_work.logger.error(
                "cannot open the database to deliver events",
                serde_json::json!({ "cause": error.to_string() }),
            ),
        }
    });
}

/// `GET /health` of a producer: its database answers, with its outbox's counts.
pub fn health_reply(
    service: &str,
    database: Result<Database, impl std::fmt::Display>,
) -> ApiResult {
    let check = database.map_err(|error| error.to_string()).and_then(|db| {
        let counts = db.ping().and_then(|()| health(&db));
        counts
            .map(|outbox| serde_json::json!({ "outbox": outbox }))
            .map_err(|error| error.to_string())
    });
    response_handler::health_reply(service, check)
}

/// Counts the outbox's pending and dead-lettered events. Each count reads only its partial
/// index: delivered events, the bulk of the table, are never visited, so a health check costs
/// the same however many events the service has sent.
pub fn health(db: &Database) -> Result<OutboxHealth, StoreError> {
    let table = table(db);
    let counts = db.execute(
        &format!(
            "SELECT
                 (SELECT COUNT(*) FROM {table} WHERE delivered_at IS NULL AND dead_at IS NULL)
                     AS pending,
                 (SELECT COUNT(*) FROM {table} WHERE dead_at IS NOT NULL) AS dead_lettered"
        ),
        &[],
    )?;
    let row = counts.rows().next();
    let count = |name: &str| {
        row.as_ref()
            .and_then(|row| row.get::<i64>(name))
            .unwrap_or(0)
    };
    Ok(OutboxHealth {
        pending: count("pending"),
        dead_lettered: count("dead_lettered"),
    })
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
}
