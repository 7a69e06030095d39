//! The database of this service (Spin SQLite label `users`) and its migrations.

use store::{Database, Migration, Schema};

use crate::error::Error;

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "users";

/// Every schema version, oldest first.
pub const MIGRATIONS: &[Migration] = &[
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
    outbox::table_migration(2),
    outbox::lease_migration(3),
    outbox::namespace_migration(4),
    outbox::retry_migration(5),
    outbox::dead_letter_index_migration(6),
    outbox::delivered_index_migration(7),
];

/// The database of this service; the migrations' numbering is checked at compile time.
pub const SCHEMA: Schema = Schema::new(DATABASE, MIGRATIONS);

/// Opens the database, migrating it on first use.
pub fn open() -> Result<Database, Error> {
    Ok(SCHEMA.open()?)
}
