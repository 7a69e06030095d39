//! Where the services keep their data: each service's tables are its own, so every SQLite label
//! can be linked to one database, and databases made before that are upgraded in place.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use store::Migration;
use storefront_tests::{
    AppOptions, Storage, TEST_JWT_SECRET, shipping_address, spawn_app_with, try_spawn,
};

/// The services' SQLite labels and their migrations.
fn services() -> [(&'static str, &'static [Migration]); 4] {
    [
        ("users", user_service::schema::MIGRATIONS),
        ("products", product_service::schema::MIGRATIONS),
        ("orders", order_service::schema::MIGRATIONS),
        ("notifications", notification_service::schema::MIGRATIONS),
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
    let admin = app.register("admin@example.com").await;
    let buyer = app.register("buyer@example.com").await;
    let product = app
        .create_product(
            &admin,
            &json!({"name": "Cup", "price": 4.5, "category": "kitchen", "stock": 3}),
        )
        .await;
    let order = app
        .place_order(
            &buyer,
            &json!({"items": [{"productId": product["id"], "quantity": 1}],
                "shippingAddress": shipping_address()}),
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let health = app.get("/health").await;

    // Assert: one file holds every service's data, each name in its service's namespace.
    assert_eq!(health.status, 200, "{}", health.text);
    let names = schema_names(&app.database_path("users"));
    for (label, _) in services() {
        assert!(
            names
                .iter()
                .any(|name| name == &format!("{label}_schema_migrations")),
            "{label} migrated into the shared file: {names:?}"
        );
    }
    let strays: Vec<&String> = names
        .iter()
        .filter(|name| {
            !services()
                .iter()
                .any(|(label, _)| *name == label || name.starts_with(&format!("{label}_")))
        })
        .collect();
    assert!(
        strays.is_empty(),
        "names outside every namespace: {strays:?}"
    );
}

/// Writes `label`'s database as the release before table prefixes made it: its migrations up
/// to `legacy_version`, recorded in the shared-name `schema_migrations`.
fn write_legacy_database(file: &Path, label: &str, legacy_version: i64) -> rusqlite::Connection {
    let migrations = services()
        .into_iter()
        .find(|(name, _)| *name == label)
        .map(|(_, migrations)| migrations)
        .unwrap_or_default();
    let connection = rusqlite::Connection::open(file).expect("create database");
    connection
        .execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
        )
        .expect("history table");
    for migration in migrations.iter().filter(|m| m.version <= legacy_version) {
        for statement in migration.statements {
            connection
                .execute_batch(statement)
                .expect("legacy statement");
        }
        connection
            .execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?1, ?2)",
                (migration.version, migration.description),
            )
            .expect("record migration");
    }
    connection
}

#[tokio::test]
async fn databases_from_before_table_prefixes_are_upgraded_in_place_keeping_their_data() {
    // Arrange: per-service files as the previous release left them, with a product, a
    // reservation and a user.created event that was never delivered.
    let state = tempfile::tempdir().expect("state");
    let storage = Storage {
        one_database_file: false,
        redis: None,
    };
    let users = write_legacy_database(&storage.database_path(state.path(), "users"), "users", 3);
    users
        .execute(
            "INSERT INTO outbox (id, type, source, data, occurred_at) VALUES ('evt_legacy', 'user.created',
             'user-service', '{\"userId\":\"usr_legacy\",\"email\":\"old@example.com\",\"name\":\"Old\"}',
             '2026-11-01T00:00:00.000Z')",
            [],
        )
        .expect("legacy event");
    let products = write_legacy_database(
        &storage.database_path(state.path(), "products"),
        "products",
        6,
    );
    products
        .execute(
            "INSERT INTO products (id, name, description, price_cents, category, stock, is_active,
             created_at, updated_at) VALUES ('prd_legacy', 'Old lamp', '', 1250, 'home', 5, 1,
             '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')",
            [],
        )
        .expect("legacy product");
    write_legacy_database(&storage.database_path(state.path(), "orders"), "orders", 5);
    write_legacy_database(
        &storage.database_path(state.path(), "notifications"),
        "notifications",
        2,
    );
    drop((users, products));

    // Act: the new release starts on them (each service migrates on first use; /health uses
    // them all); a registration makes the user service deliver its outbox.
    let app = try_spawn(
        AppOptions {
            storage,
            ..AppOptions::default()
        },
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
    let mut welcomed = false;
    for _ in 0..100 {
        let notifications = app.get_as("/api/notifications", &token).await;
        if notifications.body["data"][0]["type"] == "welcome" {
            welcomed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(product.status, 200, "{}", product.text);
    assert_eq!(product.body["data"]["price"], 12.5);
    assert!(
        welcomed,
        "the event left undelivered before the upgrade went out"
    );
    let names = schema_names(&app.database_path("users"));
    assert!(names.contains(&"users_outbox".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|name| name == "outbox" || name == "schema_migrations"),
        "{names:?}"
    );
    let names = schema_names(&app.database_path("orders"));
    assert!(names.contains(&"orders_items".to_string()), "{names:?}");
}
