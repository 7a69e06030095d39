//! The transactional outbox.
//!
//! A producing service writes each event ([`record`]) in the same SQLite transaction as the
//! change it describes, so an event exists exactly when its change does. [`deliver_pending`]
//! then pushes undelivered events, oldest first and in bounded batches, to the notification
//! service's private `POST /events`, and marks each delivered on a 2xx. Producers call it after
//! their response has been sent and again on later requests, so an event whose delivery failed
//! (the notification service down, say) goes out later: delivery is at least once, and the
//! notification service ignores an event id it has already seen.

use std::time::Duration;

use response_handler::{ApiError, RequestContext};
use serde::Serialize;
use serde_json::Value;
use service_client::ServiceClient;
use spin_sdk::http::Method;
use spin_sdk::sqlite::Value as Sql;
use store::{Database, Migration};

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

/// An event as it travels to the notification service.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub source: String,
    pub data: Value,
}

/// Writes an event inside the caller's open transaction; returns its id.
pub fn record(
    db: &Database,
    event_type: &str,
    source: &str,
    data: &Value,
) -> Result<String, ApiError> {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    db.execute(
        &format!(
            "INSERT INTO {} (id, type, source, data, occurred_at) VALUES (?, ?, ?, ?, ?)",
            table(db)
        ),
        &[
            Sql::Text(id.clone()),
            Sql::Text(event_type.to_string()),
            Sql::Text(source.to_string()),
            Sql::Text(data.to_string()),
            Sql::Text(envelope::rfc3339_from_millis(envelope::now_millis())),
        ],
    )?;
    Ok(id)
}

/// How long a delivery pass owns the events it claimed. Long enough for a whole batch to
/// time out; if the instance dies mid-pass, its events become claimable again after it.
pub const LEASE: Duration = Duration::from_secs(BATCH_SIZE as u64 * DELIVERY_TIMEOUT.as_secs());

fn event_from_row(row: spin_sdk::sqlite::Row<'_>) -> Option<Event> {
    Some(Event {
        id: row.get::<&str>("id")?.to_string(),
        event_type: row.get::<&str>("type")?.to_string(),
        source: row.get::<&str>("source")?.to_string(),
        data: serde_json::from_str(row.get::<&str>("data")?).unwrap_or(Value::Null),
        occurred_at: row.get::<&str>("occurred_at")?.to_string(),
    })
}

/// Claims up to `limit` of the oldest undelivered events nobody else holds, until `lease_until`
/// (epoch milliseconds), and returns them oldest first. Concurrent passes therefore send
/// disjoint events: without the claim, every request under load would resend the same batch.
pub fn claim(
    db: &Database,
    now_millis: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Event>, ApiError> {
    // A read first, so the common case (nothing pending) takes no write lock.
    let outbox = table(db);
    let available = db.execute(
        &format!(
            "SELECT 1 FROM {outbox} WHERE delivered_at IS NULL AND claimed_until <= ? LIMIT 1"
        ),
        &[Sql::Integer(now_millis)],
    )?;
    if available.rows.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db.execute(
        &format!(
            "UPDATE {outbox} SET claimed_until = ? WHERE id IN (
                 SELECT id FROM {outbox} WHERE delivered_at IS NULL AND claimed_until <= ?
                 ORDER BY occurred_at, id LIMIT ?)
             RETURNING id, type, source, data, occurred_at"
        ),
        &[
            Sql::Integer(lease_until),
            Sql::Integer(now_millis),
            Sql::Integer(limit),
        ],
    )?;
    let mut events: Vec<Event> = rows.rows().filter_map(event_from_row).collect();
    // RETURNING has no defined order.
    events.sort_by(|a, b| (&a.occurred_at, &a.id).cmp(&(&b.occurred_at, &b.id)));
    Ok(events)
}

/// Sends pending events to the notification service until none is left or one fails.
/// Returns how many were delivered. Failures are logged and left for a later pass.
pub async fn deliver_pending(ctx: &RequestContext, db: &Database) -> usize {
    let client = ServiceClient::from_variable(
        "notification-service",
        "notification_service_url",
        DELIVERY_TIMEOUT,
    );
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
    let claimed = events.len();
    let outbox = table(db);
    let mut delivered = 0;
    for event in events {
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let outcome = client
            .send(ctx, Method::Post, "/events", &[], Some(body))
            .await;
        let failure = match &outcome {
            Ok(answer) if answer.is_success() => None,
            Ok(answer) => Some(format!("status {}", answer.status)),
            Err(error) => Some(error.to_string()),
        };
        let update = match &failure {
            None => db.execute(
                &format!(
                    "UPDATE {outbox} SET delivered_at = ?, attempts = attempts + 1, last_error = NULL,
                     claimed_until = 0 WHERE id = ? AND delivered_at IS NULL"
                ),
                &[
                    Sql::Text(envelope::rfc3339_from_millis(envelope::now_millis())),
                    Sql::Text(event.id.clone()),
                ],
            ),
            Some(reason) => db.execute(
                &format!("UPDATE {outbox} SET attempts = attempts + 1, last_error = ? WHERE id = ?"),
                &[Sql::Text(reason.clone()), Sql::Text(event.id.clone())],
            ),
        };
        if let Err(error) = update {
            ctx.logger.error(
                "outbox update failed",
                serde_json::json!({ "eventId": event.id, "cause": error.to_string() }),
            );
        }
        if let Some(reason) = failure {
            ctx.logger.warn(
                "event delivery failed; will retry on a later request",
                serde_json::json!({ "eventId": event.id, "type": event.event_type, "cause": reason }),
            );
            break;
        }
        delivered += 1;
    }
    // Whatever this pass claimed but did not deliver (after a failure) is free for the next
    // request at once rather than after the lease.
    if delivered < claimed
        && let Err(error) = db.execute(
            &format!(
                "UPDATE {outbox} SET claimed_until = 0 WHERE claimed_until = ? AND delivered_at IS NULL"
            ),
            &[Sql::Integer(lease_until)],
        )
    {
        ctx.logger.error(
            "outbox release failed",
            serde_json::json!({ "cause": error.to_string() }),
        );
    }
    delivered
}
