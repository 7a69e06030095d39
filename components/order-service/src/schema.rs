//! The database of this service (Spin SQLite label `orders`): its own track and the
//! outbox's.

use store::{Expiry, Migration, Schema, Track};

/// The Spin SQLite label declared in `spin.toml`.
pub const DATABASE: &str = "orders";

/// This service's own tables, oldest migration first.
pub const TRACK: Track = Track::new(
    DATABASE,
    &[
        Migration {
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
        },
        Migration {
            version: 2,
            description: "order items",
            statements: &["CREATE TABLE order_items (
                order_id TEXT NOT NULL REFERENCES orders (id),
                position INTEGER NOT NULL,
                product_id TEXT NOT NULL,
                product_name TEXT NOT NULL,
                quantity INTEGER NOT NULL CHECK (quantity > 0),
                unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
                total_price_cents INTEGER NOT NULL CHECK (total_price_cents >= 0),
                PRIMARY KEY (order_id, position)
            )"],
        },
        Migration {
            version: 3,
            description: "idempotency keys",
            statements: &[
                "CREATE TABLE idempotency_keys (
                user_id TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
                response_status INTEGER,
                response_data TEXT,
                created_at TEXT NOT NULL,
                PRIMARY KEY (user_id, key)
            )",
                "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
            ],
        },
        Migration {
            version: 4,
            description: "items and idempotency keys named after the service",
            statements: &[
                "ALTER TABLE order_items RENAME TO orders_items",
                "ALTER TABLE idempotency_keys RENAME TO orders_idempotency_keys",
                "DROP INDEX idempotency_keys_created",
                "CREATE INDEX orders_idempotency_keys_created ON orders_idempotency_keys (created_at)",
            ],
        },
        Migration {
            version: 5,
            description: "order intents, and leases on idempotency keys",
            statements: &[
                "CREATE TABLE orders_intents (
                order_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('reserving', 'releasing', 'placed', 'released')),
                created_at TEXT NOT NULL,
                retry_at INTEGER NOT NULL
            )",
                "CREATE INDEX orders_intents_open ON orders_intents (retry_at)
             WHERE status IN ('reserving', 'releasing')",
                "ALTER TABLE orders_idempotency_keys ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0",
            ],
        },
        Migration {
            version: 6,
            description: "the attempt that holds an idempotency key",
            statements: &["ALTER TABLE orders_idempotency_keys ADD COLUMN attempt TEXT"],
        },
        Migration {
            version: 7,
            description: "closed order intents indexed for pruning",
            statements: &["CREATE INDEX orders_intents_closed
             ON orders_intents (created_at) WHERE status IN ('placed', 'released')"],
        },
        Migration {
            version: 8,
            description: "order lifecycle: updates, status history, cancellations",
            statements: &[
                "ALTER TABLE orders ADD COLUMN updated_at TEXT",
                "ALTER TABLE orders ADD COLUMN cancel_reason TEXT
                 CHECK (cancel_reason IN ('customer', 'admin', 'expired'))",
                "ALTER TABLE orders ADD COLUMN status_history TEXT NOT NULL DEFAULT '[]'",
                "UPDATE orders SET updated_at = created_at,
                     status_history = json_array(json_object('status', status, 'at', created_at))",
                // Pending orders past their hold are found by age; every order, newest first,
                // for an admin, with or without a status.
                "CREATE INDEX orders_pending_created ON orders (created_at) WHERE status = 'pending'",
                "CREATE INDEX orders_newest ON orders (created_at)",
                "CREATE INDEX orders_status_newest ON orders (status, created_at)",
            ],
        },
    ],
);

/// Order attempts that ended (placed or given back): nothing reads them again, since an
/// attempt that finds its intent gone is treated as cancelled, as it would be if released,
/// and a cancellation opens a new one.
pub const CLOSED_INTENTS: Expiry = Expiry {
    table: "orders_intents",
    finished: "status IN ('placed', 'released')",
    since: "created_at",
};

/// The database of this service.
pub const SCHEMA: Schema = Schema::new(DATABASE, &[TRACK, outbox::TRACK]);
