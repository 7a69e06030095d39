//! The database of this service (Spin SQLite label `orders`) and its migrations.

use response_handler::ApiError;
use store::{Database, Migration};

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "orders";

/// Every schema version, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "orders",
    statements: &[
        "CREATE TABLE orders (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            status TEXT NOT NULL,
            total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
            shipping_address TEXT NOT NULL,
            created_at TEXT NOT NULL
        )",
        "CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC)",
    ],
}];

/// Opens the database, migrating it on first use.
pub fn open() -> Result<Database, ApiError> {
    Database::open(DATABASE, MIGRATIONS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_in_order() {
        assert_eq!(store::check_migration_order(super::MIGRATIONS), Ok(()));
    }
}
