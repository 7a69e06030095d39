//! Notifications and processed events in SQLite (label `notifications`).

use contracts::events::Event;
use platform::clock;
use store::{Database, FromRow, Listing, Page, RowView, StoreError, Value};

use crate::domain::{NewNotification, Notification};
use crate::error::Error;

const COLUMNS: &str = "id, user_id, type, title, message, data, read_at, created_at";

impl FromRow for Notification {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        let read_at = row.optional_text("read_at")?;
        Ok(Self {
            id: row.text("id")?,
            kind: row.text("type")?,
            title: row.text("title")?,
            message: row.text("message")?,
            data: row.json("data")?,
            read: read_at.is_some(),
            created_at: row.text("created_at")?,
            read_at,
        })
    }
}

/// Records an event once and creates its notification in the same transaction (marked for
/// the webhook when one is set). `Ok(None)` when the event id was seen before (nothing
/// changes); `Ok(Some(None))` for an event that notifies nobody.
pub fn accept_event(
    db: &Database,
    event: &Event,
    notification: Option<NewNotification>,
    for_webhook: bool,
) -> Result<Option<Option<Notification>>, Error> {
    let now = clock::now_rfc3339();
    db.transaction(|db| {
        let fresh = db.execute(
            "INSERT INTO notifications_processed_events (id, type, source, occurred_at, received_at)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
            &[
                Value::Text(event.id.clone()),
                Value::Text(event.event_type.clone()),
                Value::Text(event.source.clone()),
                Value::Text(event.occurred_at.clone()),
                Value::Text(now.clone()),
            ],
        )?;
        if fresh.rows.is_empty() {
            return Ok(None);
        }
        let Some(new) = notification else {
            return Ok(Some(None));
        };
        let created = db.query_one::<Notification>(
            &format!(
                "INSERT INTO notifications (id, user_id, type, title, message, data, read_at,
                                            created_at, webhook_pending)
                 VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?) RETURNING {COLUMNS}"
            ),
            &[
                Value::Text(format!("ntf_{}", uuid::Uuid::new_v4().simple())),
                Value::Text(new.user_id),
                Value::Text(new.kind.to_string()),
                Value::Text(new.title),
                Value::Text(new.message),
                Value::Text(new.data.to_string()),
                Value::Text(now),
                Value::Integer(i64::from(for_webhook)),
            ],
        )?;
        Ok(Some(created))
    })
}

/// A user's notifications, newest first, optionally only unread, with the total.
pub fn list(
    db: &Database,
    user_id: &str,
    unread_only: bool,
    page: Page,
) -> Result<(Vec<Notification>, u64), Error> {
    let from = if unread_only {
        "FROM notifications WHERE user_id = ? AND read_at IS NULL"
    } else {
        "FROM notifications WHERE user_id = ?"
    };
    Ok(db.page(
        &Listing {
            columns: COLUMNS,
            from,
            order_by: "created_at DESC, rowid DESC",
            parameters: vec![Value::Text(user_id.to_string())],
        },
        page,
    )?)
}

/// Marks the user's notification read (keeping the first read time).
pub fn mark_read(db: &Database, user_id: &str, id: &str) -> Result<Notification, Error> {
    db.query_one::<Notification>(
        &format!(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ?
             RETURNING {COLUMNS}"
        ),
        &[
            Value::Text(clock::now_rfc3339()),
            Value::Text(id.into()),
            Value::Text(user_id.into()),
        ],
    )?
    .ok_or_else(|| Error::NotificationNotFound {
        notification_id: id.to_string(),
    })
}

/// Notifications waiting for the webhook.
pub const WEBHOOK_PENDING: &str = "webhook_pending = 1";

/// Takes up to `limit` notifications waiting for the webhook (each is sent once, best
/// effort) and returns them.
pub fn claim_for_webhook(db: &Database, limit: i64) -> Result<Vec<Notification>, Error> {
    let claimed = db.claim(
        &store::Claim {
            table: "notifications",
            key: "id",
            due: WEBHOOK_PENDING,
            order_by: "created_at",
            limit,
            set: "webhook_pending = 0",
            returning: COLUMNS,
        },
        &[],
    )?;
    Ok(db.read_rows(&claimed)?)
}
