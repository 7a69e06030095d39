//! The order rows of the contract, through the gateway.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use storefront_tests::{
    Answer, AppOptions, Registered, TestApp, count_by_status, manifest_variant, order_of,
    poll_until, replace_once, shipping_address, spawn_app, spawn_app_with,
};

/// An admin and a buyer of `app`.
async fn setup(app: &TestApp) -> (Registered, Registered) {
    (
        app.register("admin@example.com").await,
        app.register("buyer@example.com").await,
    )
}

/// A fresh app with default options, its admin and a buyer.
async fn app_with_admin_and_buyer() -> (TestApp, Registered, Registered) {
    let app = spawn_app().await;
    let (admin, buyer) = setup(&app).await;
    (app, admin, buyer)
}

#[tokio::test]
async fn an_order_reserves_stock_and_prices_come_from_the_catalog_in_exact_cents() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let pen = app.add_product(&admin, "Pen", 19.99, 10).await;
    let pad = app.add_product(&admin, "Pad", 0.1, 10).await;

    let answer = app.place_order(&buyer, &json!({"items": [
        {"productId": pen, "quantity": 3, "unitPrice": 0.01}, {"productId": pad, "quantity": 2}, {"productId": pen, "quantity": 1}
    ], "shippingAddress": shipping_address()})).await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let data = &answer.body["data"];
    assert_eq!(data["status"], "pending");
    assert_eq!(data["orderId"], data["id"]);
    assert_eq!(data["totalAmount"], json!(80.16), "4 x 19.99 + 2 x 0.10");
    assert_eq!(
        data["items"][0],
        json!({"productId": pen, "productName": "Pen", "quantity": 4, "unitPrice": 19.99, "totalPrice": 79.96})
    );
    assert_eq!(data["items"][1]["totalPrice"], json!(0.2));
    assert_eq!(data["shippingAddress"]["line2"], "Apt 4");
    assert_eq!(app.stock_of(&pen).await, 6);
    assert_eq!(app.stock_of(&pad).await, 8);
}

#[tokio::test]
async fn orders_need_a_user_token() {
    let app = spawn_app().await;

    let answer = app.post_json("/api/orders", &order_of("prd_any", 1)).await;

    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn invalid_orders_are_400_with_every_problem_named() {
    let (app, _, buyer) = app_with_admin_and_buyer().await;

    let answer = app.place_order(&buyer, &json!({"items": [{"productId": "p", "quantity": 0}], "shippingAddress": {"street": "x"}}),
    )
    .await;

    answer.assert_missing_fields(&[
        "shippingAddress.city",
        "shippingAddress.postalCode",
        "shippingAddress.country",
    ]);
    assert!(answer.details()["invalidFields"]["items[0].quantity"].is_string());
}

#[tokio::test]
async fn an_unknown_product_fails_the_whole_order_with_its_id() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let pen = app.add_product(&admin, "Pen", 1.0, 10).await;

    let answer = app.place_order(&buyer, &json!({"items": [{"productId": pen, "quantity": 2}, {"productId": "prd_ghost", "quantity": 1}], "shippingAddress": shipping_address()})).await;

    answer.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(answer.details()["productId"], "prd_ghost");
    assert_eq!(app.stock_of(&pen).await, 10, "nothing reserved");
    let orders = app.get_as("/api/orders", &buyer.token).await;
    assert_eq!(orders.body["data"], json!([]));
}

#[tokio::test]
async fn insufficient_stock_fails_the_whole_order_with_details() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let plenty = app.add_product(&admin, "Plenty", 1.0, 10).await;
    let scarce = app.add_product(&admin, "Scarce", 1.0, 1).await;

    let answer = app.place_order(&buyer, &json!({"items": [{"productId": plenty, "quantity": 5}, {"productId": scarce, "quantity": 2}], "shippingAddress": shipping_address()})).await;

    answer.assert_error(409, "INSUFFICIENT_STOCK");
    assert_eq!(
        *answer.details(),
        json!({"productId": scarce, "requested": 2, "available": 1})
    );
    assert_eq!(app.stock_of(&plenty).await, 10);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_creates_nothing_new() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let pen = app.add_product(&admin, "Pen", 2.5, 10).await;
    let body = order_of(&pen, 2);
    let keyed = |body: &Value| {
        app.send(
            app.authed(app.client.post(app.url("/api/orders")), &buyer.token)
                .header("idempotency-key", "order-key-1")
                .json(body),
        )
    };

    let first = keyed(&body).await;
    let replay = keyed(&body).await;
    let different = keyed(&order_of(&pen, 3)).await;

    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.body["data"], first.body["data"]);
    assert_ne!(
        replay.body["meta"]["requestId"],
        first.body["meta"]["requestId"]
    );
    different.assert_error(422, "UNPROCESSABLE_ENTITY");
    assert_eq!(app.stock_of(&pen).await, 8, "stock taken once");
    let orders = app.get_as("/api/orders", &buyer.token).await;
    assert_eq!(orders.body["meta"]["pagination"]["total"], 1);
}

/// Sixty single-unit orders of `product` by `buyer`, all in flight at once, sent to each of
/// `apps` in turn.
async fn sixty_concurrent_orders(
    apps: &[&TestApp],
    buyer: &Registered,
    product: &str,
) -> Vec<Answer> {
    let body = order_of(product, 1);
    let orders = (0..60).map(|index| apps[index % apps.len()].place_order(buyer, &body));
    futures::future::join_all(orders).await
}

/// Twenty orders made and forty refused for want of stock, and every app sees the twenty
/// orders and no stock left.
async fn assert_exactly_twenty_sold(
    answers: &[Answer],
    apps: &[&TestApp],
    buyer: &Registered,
    product: &str,
) {
    assert_eq!(
        count_by_status(answers),
        BTreeMap::from([(201, 20), (409, 40)]),
        "{:?}",
        answers
            .iter()
            .map(|a| &a.body["error"]["code"])
            .collect::<Vec<_>>()
    );
    for app in apps {
        assert_eq!(app.stock_of(product).await, 0);
        let orders = app.get_as("/api/orders?limit=100", &buyer.token).await;
        assert_eq!(orders.body["meta"]["pagination"]["total"], 20);
    }
}

#[tokio::test]
async fn sixty_concurrent_single_unit_orders_against_stock_twenty_make_exactly_twenty_orders() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let hot = app.add_product(&admin, "Hot", 5.0, 20).await;

    let answers = sixty_concurrent_orders(&[&app], &buyer, &hot).await;

    assert_exactly_twenty_sold(&answers, &[&app], &buyer, &hot).await;
}

#[tokio::test]
async fn sixty_orders_spread_over_two_replicas_sharing_storage_sell_exactly_the_stock() {
    // Arrange: two instances of the app on their own ports, sharing SQLite files and
    // key-value (two replicas behind a load balancer).
    let app = spawn_app().await;
    let replica = app.replica().await;
    let (admin, buyer) = setup(&app).await;
    let hot = app.add_product(&admin, "Hot", 5.0, 20).await;

    // Act: every other order goes to the other replica.
    let answers = sixty_concurrent_orders(&[&app, &replica], &buyer, &hot).await;

    // Assert
    assert_exactly_twenty_sold(&answers, &[&app, &replica], &buyer, &hot).await;
}

#[tokio::test]
async fn a_user_sees_only_their_orders_newest_first_and_admins_see_any() {
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let other = app.register("other@example.com").await;
    let pen = app.add_product(&admin, "Pen", 1.0, 10).await;
    let body = order_of(&pen, 1);
    let first = app.place_order(&buyer, &body).await.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let second = app.place_order(&buyer, &body).await.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let mine = app.get_as("/api/orders", &buyer.token).await;
    let theirs = app
        .get_as(&format!("/api/orders/{first}"), &other.token)
        .await;
    let own = app
        .get_as(&format!("/api/orders/{first}"), &buyer.token)
        .await;
    let as_admin = app
        .get_as(&format!("/api/orders/{first}"), &admin.token)
        .await;
    let others_list = app.get_as("/api/orders", &other.token).await;

    assert_eq!(mine.each("id"), [second.as_str(), first.as_str()]);
    assert_eq!(theirs.status, 404, "{}", theirs.text);
    assert_eq!(own.status, 200);
    assert_eq!(own.body["data"]["items"][0]["productName"], "Pen");
    assert_eq!(as_admin.status, 200);
    assert_eq!(others_list.body["data"], json!([]));
}

#[tokio::test]
async fn an_unreachable_product_service_gives_a_clean_502_and_no_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The order service may call a host where nothing answers.
    let manifest = manifest_variant(&dir, |text| {
        let text = replace_once(
            &text,
            "allowed_outbound_hosts = [\"{{ product_service_url }}\", \"{{ notification_service_url }}\"]",
            "allowed_outbound_hosts = [\"http://127.0.0.1:9\", \"{{ notification_service_url }}\"]",
        );
        replace_once(
            &text,
            "product_service_url = \"{{ product_service_url }}\"\nnotification_service_url",
            "product_service_url = \"http://127.0.0.1:9\"\nnotification_service_url",
        )
    });
    let app = spawn_app_with(AppOptions {
        manifest,
        ..AppOptions::default()
    })
    .await;
    let (admin, buyer) = setup(&app).await;
    let pen = app.add_product(&admin, "Pen", 1.0, 10).await;

    let answer = app.place_order(&buyer, &order_of(&pen, 1)).await;

    answer.assert_error(502, "BAD_GATEWAY");
    assert_eq!(answer.details()["service"], "product-service");
    assert!(
        !answer.text.contains("refused"),
        "no transport detail in production: {}",
        answer.text
    );
    assert_eq!(app.stock_of(&pen).await, 10);
    let orders = app.get_as("/api/orders", &buyer.token).await;
    assert_eq!(orders.body["data"], json!([]));
}

/// Every order of `user`, read page by page: `(id, units)`.
async fn all_orders(app: &TestApp, user: &Registered) -> Vec<(String, i64)> {
    let mut orders = Vec::new();
    for page in 1.. {
        let answer = app
            .get_as(&format!("/api/orders?limit=100&page={page}"), &user.token)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let data = answer.body["data"].as_array().cloned().unwrap_or_default();
        for order in &data {
            let units = order["items"].as_array().map_or(0, |items| {
                items.iter().filter_map(|i| i["quantity"].as_i64()).sum()
            });
            orders.push((order["id"].as_str().unwrap_or_default().to_string(), units));
        }
        if answer.body["meta"]["pagination"]["hasNext"] != true {
            break;
        }
    }
    orders
}

#[tokio::test]
async fn a_host_killed_under_order_load_loses_no_order_and_keeps_no_stock_it_did_not_sell() {
    // Arrange: the host as a process of its own (Spin is one anyway), 1,000 units in stock.
    let app = spawn_app_with(
        AppOptions {
            runner_binary: Some(env!("CARGO_BIN_EXE_app-runner").into()),
            ..AppOptions::default()
        }
        .variable("upstream_timeout_ms", "1000"),
    )
    .await;
    let (admin, buyer) = setup(&app).await;
    let stocked = app.add_product(&admin, "Stocked", 2.0, 1000).await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let load: Vec<_> = (0..16)
        .map(|worker| {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let url = app.url("/api/orders");
            let body = order_of(&stocked, 1 + worker % 3);
            let (token, acknowledged) = (buyer.token.clone(), acknowledged.clone());
            tokio::spawn(async move {
                loop {
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() == 201 {
                        let body: Value = response.json().await.unwrap_or_default();
                        let id = body["data"]["id"].as_str().unwrap_or_default().to_string();
                        acknowledged.lock().expect("lock").push(id);
                    }
                }
            })
        })
        .collect();

    // Act: kill the host mid-load, start it again, wait out the lease of interrupted
    // attempts (3 x 1 s + 1 s), then make a few ordinary requests.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let app = app.crash_and_restart().await;
    for worker in load {
        let _ = worker.await;
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let mut settled = None;
    for _ in 0..60 {
        let health = app.get("/health").await;
        assert_eq!(health.status, 200, "{}", health.text);
        let orders = all_orders(&app, &buyer).await;
        let ordered: i64 = orders.iter().map(|(_, units)| units).sum();
        let stock = app.stock_of(&stocked).await;
        if stock + ordered == 1000 {
            settled = Some(orders);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Assert: stock and sold units add up, and every acknowledged order exists.
    let orders = settled.expect("stock + ordered units never came back to 1,000");
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        !acknowledged.is_empty(),
        "the load placed orders before the crash"
    );
    for id in acknowledged {
        assert!(
            orders.iter().any(|(order, _)| *order == id),
            "order {id} was lost"
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_claim_left_by_a_dead_request_is_taken_over() {
    // Arrange: an order made with a key, whose claim is then made to look like one left
    // `in_progress` by a request that died, once with its lease over and once not.
    let (app, admin, buyer) = app_with_admin_and_buyer().await;
    let pen = app.add_product(&admin, "Pen", 1.0, 10).await;
    let body = order_of(&pen, 1);
    let with_key = |key: &'static str| {
        app.send(
            app.authed(app.client.post(app.url("/api/orders")), &buyer.token)
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    assert_eq!(with_key("fresh-claim").await.status, 201);
    assert_eq!(with_key("stale-claim").await.status, 201);
    let abandon = |key: &'static str, claimed_until: i64| {
        app.change_one_row(
            "orders",
            "UPDATE orders_idempotency_keys SET status = 'in_progress', response_status = NULL,
             response_data = NULL, claimed_until = ?1 WHERE key = ?2",
            vec![claimed_until.into(), key.to_string().into()],
        )
    };
    abandon("stale-claim", 0).await;
    abandon("fresh-claim", i64::MAX).await;

    // Act
    let stale = with_key("stale-claim").await;
    let fresh = with_key("fresh-claim").await;
    let replay = with_key("stale-claim").await;

    // Assert
    assert_eq!(stale.status, 201, "taken over: {}", stale.text);
    assert_eq!(fresh.status, 409, "still someone's: {}", fresh.text);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["data"]["id"], stale.body["data"]["id"]);
}

#[tokio::test]
async fn an_order_with_tens_of_thousands_of_entries_is_refused_by_its_count() {
    let (app, _, buyer) = app_with_admin_and_buyer().await;
    let items: Vec<Value> = (0..26_000)
        .map(|index| json!({"productId": format!("prd_{index}"), "quantity": 1}))
        .collect();

    let answer = app
        .place_order(
            &buyer,
            &json!({"items": items, "shippingAddress": shipping_address()}),
        )
        .await;

    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(
        answer.details()["invalidFields"]["items"],
        "must have at most 50 entries"
    );
}

/// Holds the write lock of the SQLite file at `path` until the returned sender is dropped
/// or sent to (on a thread of its own: the in-process host serves on the test's thread).
fn hold_write_lock(
    path: std::path::PathBuf,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(path).expect("open");
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the lock");
        held.send(()).expect("report");
        let _ = released.recv();
        connection
            .execute_batch("COMMIT")
            .expect("release the lock");
    });
    is_held.recv().expect("the lock is held");
    (release, holder)
}

#[tokio::test]
async fn an_attempt_whose_idempotency_key_was_taken_over_places_no_order() {
    // One database per label: the product service must stall while the order service goes on.
    let options = AppOptions::default().variable("upstream_timeout_ms", "30000");
    if options.storage.one_database_file {
        eprintln!("skipped: needs the product database apart from the order database");
        return;
    }
    // Arrange: an attempt that has claimed its key and stalls reserving stock.
    let app = spawn_app_with(options).await;
    let (admin, buyer) = setup(&app).await;
    let pen = app.add_product(&admin, "Pen", 1.0, 10).await;
    // The order database exists (a first request migrated it) before anything is held.
    assert_eq!(app.get_as("/api/orders", &buyer.token).await.status, 200);
    let (release, holder) = hold_write_lock(app.database_path("products"));
    let stalled = {
        let request = app
            .authed(app.client.post(app.url("/api/orders")), &buyer.token)
            .header("idempotency-key", "taken-over")
            .json(&order_of(&pen, 3));
        tokio::spawn(async move { request.send().await })
    };
    let claimed = app
        .query_i64_until(
            "orders",
            "SELECT COUNT(*) FROM orders_idempotency_keys k JOIN orders_intents i
             ON i.order_id = k.attempt WHERE k.key = 'taken-over' AND i.status = 'reserving'",
            1,
        )
        .await;
    assert_eq!(
        claimed, 1,
        "the attempt claimed its key and opened its intent"
    );

    // Act: the stalled state a newer request leaves when it takes the key over (its lease
    // passed), then the stalled attempt goes on.
    app.change_one_row(
        "orders",
        "UPDATE orders_idempotency_keys SET attempt = 'ord_newer', claimed_until = 0
         WHERE key = 'taken-over'",
        vec![],
    )
    .await;
    drop(release);
    holder.join().expect("lock holder");
    let answer = stalled.await.expect("task").expect("answer");

    // Assert: the key is no longer this attempt's, so it may not complete it.
    assert_eq!(
        answer.status(),
        409,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let orders = app.get_as("/api/orders", &buyer.token).await;
    assert_eq!(orders.body["data"], json!([]), "{}", orders.text);
    let stock = poll_until(
        100,
        Duration::from_millis(50),
        || app.stock_of(&pen),
        |stock| *stock == 10,
    )
    .await;
    assert_eq!(stock, 10, "its reservation was given back");
}
