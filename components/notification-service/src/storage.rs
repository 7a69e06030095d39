//! Notifications and processed events in SQLite (label `notifications`).

use contracts::events::Event;
use response_handler::PageRequest;
use serde_json::Value;
use spin_sdk::sqlite::{QueryResult, Value as Sql};
use store::Database;

use crate::domain::{NewNotification, Notification};
use crate::error::Error;

const COLUMNS: &str = "id, user_id, type, title, message, data, read_at, created_at";

fn notifications_of(result: &QueryResult) -> Vec<Notification> {
    result
        .rows()
        .filter_map(|row| {
            let read_at = row.get::<&str>("read_at").map(str::to_string);
            Some(Notification {
                id: row.get::<&str>("id")?.to_string(),
                kind: row.get::<&str>("type")?.to_string(),
                title: row.get::<&str>("title")?.to_string(),
                message: row.get::<&str>("message")?.to_string(),
                data: serde_json::from_str(row.get::<&str>("data")?).unwrap_or(Value::Null),
                read: read_at.is_some(),
                created_at: row.get::<&str>("created_at")?.to_string(),
                read_at,
            })
        })
        .collect()
}

/// Records an event once and creates its notification in the same transaction.
/// `Ok(None)` when the event id was seen before (nothing changes).
pub fn accept_event(
    db: &Database,
    event: &Event,
    notification: Option<NewNotification>,
) -> Result<Option<Option<Notification>>, Error> {
    db.transaction(|db| {
        let fresh = db.execute(
            "INSERT INTO notifications_processed_events (id, type, source, occurred_at, received_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING RETURNING id",
            &[
                Sql::Text(event.id.clone()),
                Sql::Text(event.event_type.clone()),
                Sql::Text(event.source.clone()),
                Sql::Text(event.occurred_at.clone()),
                Sql::Text(envelope::now_rfc3339()),
            ],
        )?;
        if fresh.rows.is_empty() {
            return Ok(None);
        }
        let Some(new) = notification else {
            return Ok(Some(None));
        };
        let id = format!("ntf_{}", uuid::Uuid::new_v4().simple());
        let created = db.execute(
            &format!(
                "INSERT INTO notifications (id, user_id, type, title, message, data, read_at, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, NULL, ?) RETURNING {COLUMNS}"
            ),
            &[
                Sql::Text(id),
                Sql::Text(new.user_id),
                Sql::Text(new.kind.to_string()),
                Sql::Text(new.title),
                Sql::Text(new.message),
                Sql::Text(new.data.to_string()),
                Sql::Text(envelope::now_rfc3339()),
            ],
        )?;
        Ok(Some(notifications_of(&created).into_iter().next()))
    })
}

/// A user's notifications, newest first, optionally only unread, with the total.
pub fn list(
    db: &Database,
    user_id: &str,
    unread_only: bool,
    page: PageRequest,
) -> Result<(Vec<Notification>, u64), Error> {
    let filter = if unread_only {
        "user_id = ? AND read_at IS NULL"
    } else {
        "user_id = ?"
    };
    db.read_transaction(|db| {
        let total = db.execute(&format!("SELECT COUNT(*) AS total FROM notifications WHERE {filter}"), &[Sql::Text(user_id.into())])?;
        let total = total.rows().next().and_then(|row| row.get::<i64>("total")).unwrap_or(0);
        let rows = db.execute(
            &format!("SELECT {COLUMNS} FROM notifications WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"),
            &[Sql::Text(user_id.into()), Sql::Integer(i64::from(page.limit)), Sql::Integer(page.offset())],
        )?;
        Ok((notifications_of(&rows), u64::try_from(total).unwrap_or(0)))
    })
}

/// Marks the user's notification read (keeping the first read time).
pub fn mark_read(db: &Database, user_id: &str, id: &str) -> Result<Notification, Error> {
    let updated = db.execute(
        &format!(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ? RETURNING {COLUMNS}"
        ),
        &[Sql::Text(envelope::now_rfc3339()), Sql::Text(id.into()), Sql::Text(user_id.into())],
    )?;
    notifications_of(&updated)
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotificationNotFound {
            notification_id: id.to_string(),
        })
}
