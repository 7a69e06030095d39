//! The database of this service (Spin SQLite label `products`): its own track and the
//! outbox's.

use store::{Expiry, Migration, Schema, Track};

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "products";

/// This service's own tables, oldest migration first.
pub const TRACK: Track = Track::new(
    DATABASE,
    &[
        Migration {
    version: 1,
    description: "products",
    statements: &[
        "CREATE TABLE products (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            price_cents INTEGER NOT NULL CHECK (price_cents > 0),
            category TEXT NOT NULL,
            stock INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
            is_active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )",
        "CREATE INDEX products_category ON products (category)",
        "CREATE INDEX products_price ON products (price_cents)",
        "CREATE INDEX products_created_at ON products (created_at DESC, id DESC)",
    ],
    },
        Migration {
        version: 2,
        description: "full-text search over name and description",
        statements: &[
            "CREATE VIRTUAL TABLE products_fts USING fts5(
                name, description, content='products', content_rowid='rowid',
                tokenize='unicode61 remove_diacritics 2'
            )",
            "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
                INSERT INTO products_fts (rowid, name, description) VALUES (new.rowid, new.name, new.description);
            END",
            "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
                INSERT INTO products_fts (products_fts, rowid, name, description)
                VALUES ('delete', old.rowid, old.name, old.description);
            END",
            "CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
                INSERT INTO products_fts (products_fts, rowid, name, description)
                VALUES ('delete', old.rowid, old.name, old.description);
                INSERT INTO products_fts (rowid, name, description) VALUES (new.rowid, new.name, new.description);
            END",
        ],
    },
        Migration {
        version: 3,
        description: "stock reservations per order",
        statements: &["CREATE TABLE reservations (
            order_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('reserved', 'released')),
            items TEXT NOT NULL,
            created_at TEXT NOT NULL,
            released_at TEXT
        )"],
    },
        Migration {
        version: 4,
        description: "newest-first index that also orders ties by rowid",
        // An index on `created_at` alone ends in the rowid, so it serves the list's
        // `ORDER BY created_at DESC, rowid DESC` as a plain backwards scan; the old
        // (created_at, id) index left SQLite sorting every page in a temporary B-tree.
        statements: &[
            "CREATE INDEX products_newest ON products (created_at)",
            "DROP INDEX products_created_at",
        ],
    },
        Migration {
        version: 5,
        description: "reservations named after the service",
        statements: &["ALTER TABLE reservations RENAME TO products_reservations"],
    },
        Migration {
        version: 6,
        description: "release tombstones indexed for pruning",
        statements: &["CREATE INDEX products_reservations_released
             ON products_reservations (released_at) WHERE status = 'released'"],
    },
        Migration {
            version: 7,
            description: "active products indexed newest first",
            // The public list shows active products only; this walks them in list order.
            statements: &["CREATE INDEX products_active_newest ON products (created_at)
                 WHERE is_active = 1"],
        },
    ],
);

/// Release tombstones: a release keeps its order from reserving later, which can only happen
/// within the order service's retries (minutes), so they go after the retention period.
pub const RELEASED_RESERVATIONS: Expiry = Expiry {
    table: "products_reservations",
    finished: "status = 'released'",
    since: "released_at",
};

/// The database of this service.
pub const SCHEMA: Schema = Schema::new(DATABASE, &[TRACK, outbox::TRACK]);
