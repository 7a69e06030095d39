//! The database of this service (Spin SQLite label `users`): its own track and the outbox's.

use store::{Migration, Schema, Track};

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "users";

/// This service's own tables, oldest migration first.
pub const TRACK: Track = Track::new(
    DATABASE,
    &[
        Migration {
            version: 1,
            description: "users",
            statements: &[
                "CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    email TEXT NOT NULL,
                    email_normalized TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
                    created_at TEXT NOT NULL
                )",
                "CREATE INDEX users_created_at ON users (created_at DESC, id DESC)",
            ],
        },
        Migration {
            version: 2,
            description: "admins confirmed by the operator's bootstrap token; login failures",
            // An account made before this release is admin only after a login that carries
            // the bootstrap token, so every existing one starts unconfirmed.
            statements: &[
                "ALTER TABLE users ADD COLUMN admin_confirmed INTEGER NOT NULL DEFAULT 0",
                "CREATE TABLE users_login_failures (
                    subject TEXT PRIMARY KEY,
                    first_failed_at INTEGER NOT NULL,
                    failures INTEGER NOT NULL
                )",
                "CREATE INDEX users_login_failures_first ON users_login_failures (first_failed_at)",
            ],
        },
    ],
);

/// The database of this service.
pub const SCHEMA: Schema = Schema::new(DATABASE, &[TRACK, outbox::TRACK]);
