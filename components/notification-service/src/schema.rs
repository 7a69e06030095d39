//! The database of this service (Spin SQLite label `notifications`).

use store::{Expiry, Migration, Schema, Track};

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "notifications";

/// This service's tables, oldest migration first.
pub const TRACK: Track = Track::new(
    DATABASE,
    &[
        Migration {
            version: 1,
            description: "notifications",
            statements: &[
                "CREATE TABLE notifications (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    title TEXT NOT NULL,
                    message TEXT NOT NULL,
                    data TEXT NOT NULL,
                    read_at TEXT,
                    created_at TEXT NOT NULL
                )",
                "CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id DESC)",
            ],
        },
        Migration {
            version: 2,
            description: "events already processed",
            statements: &["CREATE TABLE processed_events (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                source TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                received_at TEXT NOT NULL
            )"],
        },
        Migration {
            version: 3,
            description: "processed events named after the service",
            statements: &["ALTER TABLE processed_events RENAME TO notifications_processed_events"],
        },
        Migration {
            version: 4,
            description: "processed events indexed for pruning",
            statements: &["CREATE INDEX notifications_processed_events_received
                 ON notifications_processed_events (received_at)"],
        },
        Migration {
            version: 5,
            description: "notifications waiting for the webhook",
            statements: &[
                "ALTER TABLE notifications ADD COLUMN webhook_pending INTEGER NOT NULL DEFAULT 0",
                "CREATE INDEX notifications_webhook_pending ON notifications (created_at)
                 WHERE webhook_pending = 1",
            ],
        },
    ],
);

/// The ids of processed events, kept to take each event once. An id goes once the retention
/// period has passed since its event was received, and so since it occurred; producers never
/// send an event older than that period (they dead-letter it), so no copy can arrive after.
pub const PROCESSED_EVENTS: Expiry = Expiry {
    table: "notifications_processed_events",
    finished: "received_at IS NOT NULL",
    since: "received_at",
};

/// The database of this service.
pub const SCHEMA: Schema = Schema::new(DATABASE, &[TRACK]);
