//! Where the services keep their data: each service's tables are its own, so every SQLite label
//! can be linked to one database; migrations come in tracks (each service's own, the outbox's);
//! databases of earlier releases are upgraded in place; finished records go after the
//! retention period.

use std::path::Path;
use std::time::Duration;

use store::{Expiry, Schema};
use storefront_tests::{
    AppOptions, Storage, TEST_JWT_SECRET, spawn_app_with, spawn_shop, try_spawn, workspace_root,
};

/// Every SQLite label of the app and its schema.
fn schemas() -> [(&'static str, &'static Schema); 5] {
    [
        ("users", &user_service::schema::SCHEMA),
        ("products", &product_service::schema::SCHEMA),
        ("orders", &order_service::schema::SCHEMA),
        ("notifications", &notification_service::schema::SCHEMA),
        ("edge", &edge::SCHEMA),
    ]
}

/// Every table, index, trigger and view in a database file.
fn schema_names(file: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(file).expect("open database");
    let mut statement = connection
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare");
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("query")
        .map(|name| name.expect("name"))
        .collect()
}

#[test]
fn no_two_migrations_of_a_database_share_a_description() {
    // Earlier releases' histories are matched to the tracks by description.
    for (label, schema) in schemas() {
        assert_eq!(schema.check_descriptions(), Ok(()), "{label}");
    }
}

#[tokio::test]
async fn every_service_names_its_tables_after_its_label_so_all_can_share_one_database() {
    // Arrange: every label linked to the same file.
    let storage = Storage {
        one_database_file: true,
        redis: None,
    };
    let app = spawn_app_with(AppOptions {
        storage,
        ..AppOptions::default()
    })
    .await;

    // Act: every service writes (a user, a product, an order, their notifications).
    let shop = app.open_shop(3).await;
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let health = app.get("/health").await;

    // Assert: one file holds every service's data, each name in its service's namespace.
    assert_eq!(health.status, 200, "{}", health.text);
    let names = schema_names(&app.database_path("users"));
    for (label, _) in schemas() {
        assert!(
            names
                .iter()
                .any(|name| name == &format!("{label}_migrations")),
            "{label} migrated into the shared file: {names:?}"
        );
    }
    let strays: Vec<&String> = names
        .iter()
        .filter(|name| {
            !schemas()
                .iter()
                .any(|(label, _)| *name == label || name.starts_with(&format!("{label}_")))
        })
        .collect();
    assert!(
        strays.is_empty(),
        "names outside every namespace: {strays:?}"
    );
}

/// Writes `label`'s database as an earlier release left it (`kind`: `unprefixed`, before
/// table names carried the label; `release`, the last release before migration tracks).
fn earlier_release_database(file: &Path, label: &str, kind: &str) -> rusqlite::Connection {
    let fixture = workspace_root()
        .join("tests/fixtures/previous-release")
        .join(format!("{label}-{kind}.db"));
    std::fs::copy(&fixture, file).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    rusqlite::Connection::open(file).expect("open the copy")
}

/// Per-label files as an earlier release left them, with a product, a user.created event
/// that was never delivered (in the outbox table of that release), and an order.
fn write_earlier_release(state: &Path, storage: &Storage, kind: &str) {
    let outbox = if kind == "unprefixed" {
        "outbox"
    } else {
        "users_outbox"
    };
    let users = earlier_release_database(&storage.database_path(state, "users"), "users", kind);
    users
        .execute(
            &format!(
                "INSERT INTO {outbox} (id, type, source, data, occurred_at) VALUES ('evt_legacy',
                 'user.created', 'user-service',
                 '{{\"userId\":\"usr_legacy\",\"email\":\"old@example.com\",\"name\":\"Old\"}}',
                 ?1)"
            ),
            // Recent enough to be sent: older than the retention period, it would be
            // dead-lettered.
            [days_ago(2)],
        )
        .expect("legacy event");
    let products =
        earlier_release_database(&storage.database_path(state, "products"), "products", kind);
    products
        .execute(
            "INSERT INTO products (id, name, description, price_cents, category, stock, is_active,
             created_at, updated_at) VALUES ('prd_legacy', 'Old lamp', '', 1250, 'home', 5, 1,
             '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')",
            [],
        )
        .expect("legacy product");
    let orders = earlier_release_database(&storage.database_path(state, "orders"), "orders", kind);
    orders
        .execute(
            "INSERT INTO orders (id, user_id, status, total_cents, shipping_address, created_at)
             VALUES ('ord_legacy', 'usr_legacy', 'pending', 1250, '{}', '2026-11-01T00:00:00.000Z')",
            [],
        )
        .expect("legacy order");
    earlier_release_database(
        &storage.database_path(state, "notifications"),
        "notifications",
        kind,
    );
}

async fn upgrades_in_place(kind: &str) {
    // Arrange: per-service files as an earlier release left them.
    let state = tempfile::tempdir().expect("state");
    let storage = Storage {
        one_database_file: false,
        redis: None,
    };
    write_earlier_release(state.path(), &storage, kind);

    // Act: the new release starts on them (each service migrates on first use; /health uses
    // them all); a registration makes the user service deliver its outbox.
    let app = try_spawn(
        AppOptions {
            storage,
            ..AppOptions::default()
        }
        .variable("order_hold_minutes", "0"),
        state,
    )
    .await
    .expect("starts on old databases");
    let health = app.get("/health").await;
    app.register("new@example.com").await;
    let product = app.get("/api/products/prd_legacy").await;
    let keys = auth::TokenKeys::from_secret(TEST_JWT_SECRET).expect("keys");
    let token = keys
        .issue("usr_legacy", "old@example.com", "Old", auth::Role::User)
        .expect("token");
    let order = app.get_as("/api/orders/ord_legacy", &token).await;
    let mut welcomed = false;
    for _ in 0..100 {
        let notifications = app.get_as("/api/notifications", &token).await;
        if notifications.body["data"][0]["type"] == "welcome" {
            welcomed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: the data is there, the event left, the history moved into the tracks.
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(product.status, 200, "{}", product.text);
    assert_eq!(product.body["data"]["price"], 12.5);
    assert_eq!(order.status, 200, "{}", order.text);
    assert_eq!(order.body["data"]["statusHistory"][0]["status"], "pending");
    assert!(
        welcomed,
        "the event left undelivered before the upgrade went out"
    );
    for (label, schema) in schemas().into_iter().take(4) {
        let file = app.database_path(label);
        let names = schema_names(&file);
        assert!(
            !names
                .iter()
                .any(|name| name == "outbox" || name.ends_with("schema_migrations")),
            "{label}: {names:?}"
        );
        let applied = app
            .query_i64(label, format!("SELECT COUNT(*) FROM {label}_migrations"))
            .await;
        let expected: usize = schema
            .tracks
            .iter()
            .map(|track| track.migrations.len())
            .sum();
        assert_eq!(applied, i64::try_from(expected).expect("count"), "{label}");
    }
    let names = schema_names(&app.database_path("users"));
    assert!(names.contains(&"users_outbox".to_string()), "{names:?}");
}

#[tokio::test]
async fn databases_from_before_table_prefixes_are_upgraded_in_place_keeping_their_data() {
    upgrades_in_place("unprefixed").await;
}

#[tokio::test]
async fn databases_of_the_last_release_move_their_history_into_tracks_keeping_their_data() {
    upgrades_in_place("release").await;
}

/// The time `days` days ago, as the services write times.
fn days_ago(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    store::Retention::Days(days)
        .cutoff(i64::try_from(now).expect("millis"))
        .expect("a time")
}

/// What each service prunes after the retention period.
fn expiries() -> [(&'static str, Expiry); 6] {
    [
        ("users", outbox::DELIVERED),
        ("products", outbox::DELIVERED),
        ("products", product_service::schema::RELEASED_RESERVATIONS),
        ("orders", outbox::DELIVERED),
        ("orders", order_service::schema::CLOSED_INTENTS),
        (
            "notifications",
            notification_service::schema::PROCESSED_EVENTS,
        ),
    ]
}

#[test]
fn every_prune_finds_its_records_through_an_index_of_its_own() {
    for (label, expiry) in expiries() {
        // Arrange: the service's schema as its migrations make it.
        let connection = rusqlite::Connection::open_in_memory().expect("database");
        let schema = schemas()
            .into_iter()
            .find(|(name, _)| *name == label)
            .map(|(_, schema)| schema)
            .expect("a schema");
        let statements = schema
            .tracks
            .iter()
            .flat_map(|track| track.migrations)
            .flat_map(|migration| migration.statements);
        for statement in statements {
            connection
                .execute_batch(&statement.replace("{label}", label))
                .expect("migration");
        }

        // Act: how SQLite runs the prune's first query.
        let table = expiry.table_of(label);
        let plan: Vec<String> = connection
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE {} LIMIT 1",
                expiry.condition()
            ))
            .expect("plan")
            .query_map(["2000-01-01T00:00:00.000Z"], |row| row.get::<_, String>(3))
            .expect("query")
            .map(|step| step.expect("step"))
            .collect();

        // Assert: a search of an index on the age column, not a scan of the table.
        assert!(
            plan.iter()
                .any(|step| step.starts_with(&format!("SEARCH {table} USING"))
                    && step.contains("INDEX")
                    && step.contains(&format!("{}<?", expiry.since))),
            "{label}: {table} is pruned by {plan:?}"
        );
    }
}

#[tokio::test]
async fn finished_records_past_the_retention_period_are_deleted_and_everything_else_kept() {
    // Arrange: a first order (every service has its database now), then finished records of
    // every kind dated 2001 and dated yesterday, and old records that must stay (a dead letter,
    // a reservation that holds stock) or must not go out (an event never delivered). Work the
    // first order left for after its response may already prune some old records, so each
    // insert is checked on its own rather than the old records counted afterwards.
    let (app, shop) = spawn_shop(5).await;
    let order = shop.order_of_pens(1);
    assert_eq!(app.place_order(&shop.buyer, &order).await.status, 201);
    let old = "2001-01-01T00:00:00.000Z".to_string();
    let recent = days_ago(1);
    let text = |value: &str| rusqlite::types::Value::from(value.to_string());
    for (age, date) in [("old", &old), ("recent", &recent)] {
        let finished_records = [
            (
                "users",
                "INSERT INTO users_outbox (id, type, source, data, occurred_at, delivered_at)
                 VALUES ('evt_' || ?1 || '_sent', 'user.created', 'user-service', '{}', ?2, ?2)",
            ),
            (
                "orders",
                "INSERT INTO orders_intents (order_id, user_id, status, created_at, retry_at)
                 VALUES ('ord_' || ?1 || '_placed', 'usr_x', 'placed', ?2, 0)",
            ),
            (
                "products",
                "INSERT INTO products_reservations (order_id, status, items, created_at, released_at)
                 VALUES ('ord_' || ?1 || '_released', 'released', '[]', ?2, ?2)",
            ),
            (
                "notifications",
                "INSERT INTO notifications_processed_events (id, type, source, occurred_at, received_at)
                 VALUES ('evt_' || ?1 || '_seen', 'user.created', 'user-service', ?2, ?2)",
            ),
        ];
        for (label, insert) in finished_records {
            app.change_one_row(label, insert, vec![text(age), text(date)])
                .await;
        }
    }
    let old_records_that_stay = [
        (
            "users",
            "INSERT INTO users_outbox (id, type, source, data, occurred_at, dead_at)
             VALUES ('evt_old_dead', 'user.created', 'user-service', '{}', ?1, ?1)",
        ),
        (
            "products",
            "INSERT INTO products_reservations (order_id, status, items, created_at)
             VALUES ('ord_old_reserved', 'reserved', '[]', ?1)",
        ),
        // Never delivered: it is dead-lettered rather than sent.
        (
            "users",
            "INSERT INTO users_outbox (id, type, source, data, occurred_at)
             VALUES ('evt_old_unsent', 'user.created', 'user-service',
                     '{\"userId\":\"usr_gone\",\"email\":\"gone@example.com\",\"name\":\"Gone\"}', ?1)",
        ),
    ];
    for (label, insert) in old_records_that_stay {
        app.change_one_row(label, insert, vec![text(&old)]).await;
    }
    let app = &app;
    let finished = |age: &'static str| async move {
        app.query_i64("users", format!("SELECT COUNT(*) FROM users_outbox WHERE id = 'evt_{age}_sent'")).await
            + app.query_i64("orders", format!("SELECT COUNT(*) FROM orders_intents WHERE order_id = 'ord_{age}_placed'")).await
            + app.query_i64("products", format!("SELECT COUNT(*) FROM products_reservations WHERE order_id = 'ord_{age}_released'")).await
            + app.query_i64("notifications", format!("SELECT COUNT(*) FROM notifications_processed_events WHERE id = 'evt_{age}_seen'")).await
    };
    let unsent_dead = || {
        app.query_i64(
            "users",
            "SELECT COUNT(*) FROM users_outbox WHERE id = 'evt_old_unsent' AND dead_at IS NOT NULL",
        )
    };

    // Act: the ordinary traffic after which each service tidies up: a registration (its
    // event reaches the notification service) and an order (a reservation).
    app.register("later@example.com").await;
    let second_order = app.place_order(&shop.buyer, &order).await;
    for _ in 0..100 {
        if finished("old").await == 0 && unsent_dead().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert
    assert_eq!(second_order.status, 201, "{}", second_order.text);
    assert_eq!(
        finished("old").await,
        0,
        "finished records past the retention period are left"
    );
    assert_eq!(
        finished("recent").await,
        4,
        "finished records within the retention period are gone"
    );
    assert_eq!(
        app.query_i64(
            "users",
            "SELECT COUNT(*) FROM users_outbox WHERE id = 'evt_old_dead'"
        )
        .await,
        1,
        "a dead letter waits for an operator"
    );
    assert_eq!(
        app.query_i64(
            "products",
            "SELECT COUNT(*) FROM products_reservations WHERE order_id = 'ord_old_reserved'"
        )
        .await,
        1,
        "a reservation that holds stock stays"
    );
    assert_eq!(
        unsent_dead().await,
        1,
        "an event undelivered for longer than the retention period is dead-lettered"
    );
    assert_eq!(
        app.query_i64(
            "notifications",
            "SELECT COUNT(*) FROM notifications_processed_events WHERE id = 'evt_old_unsent'"
        )
        .await,
        0,
        "and never sent"
    );
}
