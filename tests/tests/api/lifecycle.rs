//! The order lifecycle: pending -> confirmed -> shipped -> delivered, or cancelled while
//! pending or confirmed (by its owner, an admin, or its hold passing), with the stock exact
//! through every move and every race.

use std::time::Duration;

use serde_json::{Value, json};
use storefront_tests::{
    Answer, AppOptions, Registered, Shop, TestApp, poll_until, spawn_app_with, spawn_shop,
};

/// Places an order of `quantity` pens and returns its id.
async fn order(app: &TestApp, shop: &Shop, quantity: i64) -> String {
    let answer = app
        .place_order(&shop.buyer, &shop.order_of_pens(quantity))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn set_status(app: &TestApp, admin: &Registered, id: &str, status: &str) -> Answer {
    app.patch_json_as(
        &format!("/api/orders/{id}/status"),
        &json!({ "status": status }),
        &admin.token,
    )
    .await
}

/// The orders `who` lists with `query`.
async fn list_orders(app: &TestApp, who: &Registered, query: &str) -> Answer {
    app.get_as(&format!("/api/orders?{query}"), &who.token)
        .await
}

/// An order as `who` reads it.
async fn read_order(app: &TestApp, who: &Registered, id: &str) -> Answer {
    app.get_as(&format!("/api/orders/{id}"), &who.token).await
}

/// Dates the order back to 2000, long past any hold, as a test's stand-in for waiting.
async fn age_past_its_hold(app: &TestApp, id: &str) {
    app.change_one_row(
        "orders",
        "UPDATE orders SET created_at = '2000-01-01T00:00:00.000Z' WHERE id = ?1",
        vec![id.to_string().into()],
    )
    .await;
}

async fn cancel(app: &TestApp, who: &Registered, id: &str) -> Answer {
    app.post_as(&format!("/api/orders/{id}/cancel"), &who.token)
        .await
}

fn history(answer: &Answer) -> Vec<String> {
    answer.body["data"]["statusHistory"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| entry["status"].as_str().map(str::to_string))
        .collect()
}

/// Waits until the product's stock is `expected` (a release may finish after a response).
async fn settle_stock(app: &TestApp, product: &str, expected: i64) -> i64 {
    poll_until(
        100,
        Duration::from_millis(50),
        || app.stock_of(product),
        |stock| *stock == expected,
    )
    .await
}

#[tokio::test]
async fn an_admin_moves_an_order_through_each_status_and_its_history_records_every_step() {
    // Arrange
    let (app, shop) = spawn_shop(5).await;
    let id = order(&app, &shop, 2).await;

    // Act
    let confirmed = set_status(&app, &shop.admin, &id, "confirmed").await;
    let shipped = set_status(&app, &shop.admin, &id, "shipped").await;
    let delivered = set_status(&app, &shop.admin, &id, "delivered").await;
    let read = read_order(&app, &shop.buyer, &id).await;

    // Assert
    for (answer, status) in [
        (&confirmed, "confirmed"),
        (&shipped, "shipped"),
        (&delivered, "delivered"),
    ] {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["data"]["status"], status);
    }
    assert_eq!(
        history(&read),
        ["pending", "confirmed", "shipped", "delivered"]
    );
    assert!(read.body["data"]["updatedAt"].as_str() >= read.body["data"]["createdAt"].as_str());
    assert!(read.body["data"].get("cancelReason").is_none());
    assert_eq!(app.stock_of(&shop.pen).await, 3, "sold stock stays sold");
}

#[tokio::test]
async fn a_move_the_lifecycle_does_not_have_is_409_naming_from_and_to() {
    let (app, shop) = spawn_shop(5).await;
    let id = order(&app, &shop, 1).await;

    let skip = set_status(&app, &shop.admin, &id, "shipped").await;
    let backwards = {
        set_status(&app, &shop.admin, &id, "confirmed").await;
        set_status(&app, &shop.admin, &id, "pending").await
    };
    let unknown = set_status(&app, &shop.admin, &id, "lost").await;
    let as_buyer = set_status(&app, &shop.buyer, &id, "shipped").await;

    assert_eq!(skip.status, 409, "{}", skip.text);
    assert_eq!(skip.body["error"]["code"], "CONFLICT");
    assert_eq!(*skip.details(), json!({"from": "pending", "to": "shipped"}));
    assert_eq!(backwards.status, 409);
    assert_eq!(
        *backwards.details(),
        json!({"from": "confirmed", "to": "pending"})
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert_eq!(as_buyer.status, 403);
}

#[tokio::test]
async fn cancelling_gives_the_stock_back_once_and_says_who_cancelled() {
    // Arrange
    let (app, shop) = spawn_shop(5).await;
    let by_buyer = order(&app, &shop, 2).await;
    let by_admin = order(&app, &shop, 1).await;
    let stranger = app.register("stranger@example.com").await;

    // Act
    let not_theirs = cancel(&app, &stranger, &by_buyer).await;
    let first = cancel(&app, &shop.buyer, &by_buyer).await;
    let again = cancel(&app, &shop.buyer, &by_buyer).await;
    let confirmed = set_status(&app, &shop.admin, &by_admin, "confirmed").await;
    let admin_cancel = cancel(&app, &shop.admin, &by_admin).await;

    // Assert
    assert_eq!(not_theirs.status, 404, "{}", not_theirs.text);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["data"]["status"], "cancelled");
    assert_eq!(first.body["data"]["cancelReason"], "customer");
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.body["data"]["updatedAt"],
        first.body["data"]["updatedAt"]
    );
    assert_eq!(confirmed.status, 200);
    assert_eq!(admin_cancel.body["data"]["cancelReason"], "admin");
    assert_eq!(
        history(&admin_cancel),
        ["pending", "confirmed", "cancelled"]
    );
    assert_eq!(settle_stock(&app, &shop.pen, 5).await, 5);
}

#[tokio::test]
async fn a_shipped_or_delivered_order_cannot_be_cancelled() {
    let (app, shop) = spawn_shop(5).await;
    let id = order(&app, &shop, 1).await;
    set_status(&app, &shop.admin, &id, "confirmed").await;
    set_status(&app, &shop.admin, &id, "shipped").await;

    let shipped = cancel(&app, &shop.buyer, &id).await;
    set_status(&app, &shop.admin, &id, "delivered").await;
    let delivered = set_status(&app, &shop.admin, &id, "cancelled").await;

    assert_eq!(shipped.status, 409, "{}", shipped.text);
    assert_eq!(
        *shipped.details(),
        json!({"from": "shipped", "to": "cancelled"})
    );
    assert_eq!(delivered.status, 409, "{}", delivered.text);
    assert_eq!(app.stock_of(&shop.pen).await, 4);
}

/// A fresh app whose orders are held one minute, and its shop open.
async fn shop_with_holds_of_one_minute(stock: i64) -> (TestApp, Shop) {
    let app = spawn_app_with(AppOptions::default().variable("order_hold_minutes", "1")).await;
    let shop = app.open_shop(stock).await;
    (app, shop)
}

#[tokio::test]
async fn a_pending_order_past_its_hold_is_cancelled_as_expired_when_read_and_its_stock_returned() {
    // Arrange: holds of one minute, and an order placed "two minutes ago".
    let (app, shop) = shop_with_holds_of_one_minute(5).await;
    let id = order(&app, &shop, 3).await;
    let kept = order(&app, &shop, 1).await;
    age_past_its_hold(&app, &id).await;

    // Act
    let read = read_order(&app, &shop.buyer, &id).await;
    let confirm = set_status(&app, &shop.admin, &id, "confirmed").await;
    let fresh = set_status(&app, &shop.admin, &kept, "confirmed").await;

    // Assert
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["data"]["status"], "cancelled");
    assert_eq!(read.body["data"]["cancelReason"], "expired");
    assert_eq!(confirm.status, 409, "{}", confirm.text);
    assert_eq!(
        *confirm.details(),
        json!({"from": "cancelled", "to": "confirmed"})
    );
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(settle_stock(&app, &shop.pen, 4).await, 4);
}

#[tokio::test]
async fn no_list_shows_an_order_pending_past_its_hold_and_a_hold_of_zero_never_passes() {
    // Arrange
    let (app, shop) = shop_with_holds_of_one_minute(5).await;
    let id = order(&app, &shop, 1).await;
    age_past_its_hold(&app, &id).await;

    // Act
    let listed = list_orders(&app, &shop.buyer, "status=pending").await;
    let cancelled = list_orders(&app, &shop.buyer, "status=cancelled").await;
    let forever = app
        .restart_with(AppOptions::default().variable("order_hold_minutes", "0"))
        .await;
    let shop_again = order(&forever, &shop, 1).await;
    age_past_its_hold(&forever, &shop_again).await;
    let still = read_order(&forever, &shop.buyer, &shop_again).await;

    // Assert
    assert_eq!(listed.body["data"], json!([]), "{}", listed.text);
    assert_eq!(cancelled.body["data"][0]["id"], id.as_str());
    assert_eq!(cancelled.body["data"][0]["cancelReason"], "expired");
    assert_eq!(still.body["data"]["status"], "pending");
}

#[tokio::test]
async fn admins_list_every_users_orders_newest_first_and_users_may_not() {
    // Arrange
    let (app, shop) = spawn_shop(10).await;
    let other = app.register("other@example.com").await;
    let first = order(&app, &shop, 1).await;
    let second = app.place_order(&other, &shop.order_of_pens(1)).await.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    set_status(&app, &shop.admin, &first, "confirmed").await;

    // Act
    let all = list_orders(&app, &shop.admin, "all=true").await;
    let confirmed = list_orders(&app, &shop.admin, "all=true&status=confirmed&limit=1").await;
    let as_user = list_orders(&app, &shop.buyer, "all=true").await;
    let own_pending = list_orders(&app, &shop.buyer, "status=pending").await;
    let bad = list_orders(&app, &shop.buyer, "status=lost").await;

    // Assert
    assert_eq!(all.each("id"), [second.as_str(), first.as_str()]);
    assert_eq!(all.body["meta"]["pagination"]["total"], 2);
    assert_eq!(confirmed.body["data"][0]["id"], first.as_str());
    assert_eq!(confirmed.body["meta"]["pagination"]["total"], 1);
    assert_eq!(as_user.status, 403, "{}", as_user.text);
    assert_eq!(own_pending.body["data"], json!([]));
    assert_eq!(bad.status, 400);
}

/// The buyer's notifications, once `count` of them have arrived.
async fn notifications(app: &TestApp, buyer: &Registered, count: usize) -> Vec<Value> {
    let read = || async move {
        let answer = app
            .get_as("/api/notifications?limit=100", &buyer.token)
            .await;
        answer.body["data"].as_array().cloned().unwrap_or_default()
    };
    poll_until(200, Duration::from_millis(50), read, |seen| {
        seen.len() >= count
    })
    .await
}

#[tokio::test]
async fn the_owner_is_told_of_every_move_and_of_a_cancellation() {
    let (app, shop) = spawn_shop(5).await;
    let moved = order(&app, &shop, 1).await;
    let dropped = order(&app, &shop, 1).await;

    set_status(&app, &shop.admin, &moved, "confirmed").await;
    set_status(&app, &shop.admin, &moved, "shipped").await;
    cancel(&app, &shop.buyer, &dropped).await;
    // welcome, two confirmations, two moves, one cancellation
    let seen = notifications(&app, &shop.buyer, 6).await;

    let of = |kind: &str| -> Vec<&Value> { seen.iter().filter(|n| n["type"] == kind).collect() };
    let statuses: Vec<&str> = of("order.status")
        .iter()
        .filter_map(|n| n["data"]["status"].as_str())
        .collect();
    assert!(
        statuses.contains(&"confirmed") && statuses.contains(&"shipped"),
        "{seen:?}"
    );
    assert!(
        of("order.status")
            .iter()
            .all(|n| n["data"]["orderId"] == moved.as_str())
    );
    let cancelled = of("order.cancelled");
    assert_eq!(cancelled.len(), 1, "{seen:?}");
    assert_eq!(cancelled[0]["data"]["orderId"], dropped.as_str());
    assert!(
        cancelled[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&dropped))
    );
}

#[tokio::test]
async fn racing_moves_have_one_outcome_and_the_stock_is_exact() {
    // Arrange: orders that each face two moves at once.
    let (app, shop) = spawn_shop(40).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(order(&app, &shop, 1).await);
    }
    for id in &ids[..4] {
        set_status(&app, &shop.admin, id, "confirmed").await;
    }

    // Act: cancel against ship on four confirmed orders, two cancels on four pending ones.
    let races = ids.iter().enumerate().map(|(index, id)| {
        let app = &app;
        let shop = &shop;
        async move {
            let (first, second) = if index < 4 {
                tokio::join!(
                    cancel(app, &shop.buyer, id),
                    set_status(app, &shop.admin, id, "shipped")
                )
            } else {
                tokio::join!(cancel(app, &shop.buyer, id), cancel(app, &shop.admin, id))
            };
            (first.status, second.status)
        }
    });
    let outcomes = futures::future::join_all(races).await;

    // Assert: for cancel-against-ship exactly one of the two wins; two cancels both answer
    // 200 and cancel once; the stock counts each cancelled order back exactly once.
    for (cancelled, shipped) in &outcomes[..4] {
        assert!(
            matches!((*cancelled, *shipped), (200, 409) | (409, 200)),
            "{outcomes:?}"
        );
    }
    for pair in &outcomes[4..] {
        assert_eq!(*pair, (200, 200));
    }
    let mut cancelled = 0;
    for id in &ids {
        let read = read_order(&app, &shop.buyer, id).await;
        let statuses = history(&read);
        assert_eq!(
            statuses.iter().filter(|s| *s == "cancelled").count()
                + statuses.iter().filter(|s| *s == "shipped").count(),
            1,
            "{statuses:?}"
        );
        if read.body["data"]["status"] == "cancelled" {
            cancelled += 1;
        }
    }
    assert_eq!(
        settle_stock(&app, &shop.pen, 32 + cancelled).await,
        32 + cancelled
    );
}

#[tokio::test]
async fn expiry_racing_a_confirmation_and_a_cancellation_has_one_outcome() {
    // Arrange: two orders past a one-minute hold that no read has expired yet.
    let (app, shop) = shop_with_holds_of_one_minute(10).await;
    let confirming = order(&app, &shop, 2).await;
    let cancelling = order(&app, &shop, 3).await;
    for id in [&confirming, &cancelling] {
        age_past_its_hold(&app, id).await;
    }

    // Act: a confirmation, a cancellation and a list (which expires holds) all at once.
    let (confirmed, cancelled, _) = tokio::join!(
        set_status(&app, &shop.admin, &confirming, "confirmed"),
        cancel(&app, &shop.buyer, &cancelling),
        app.get_as("/api/orders", &shop.buyer.token)
    );

    // Assert: nothing past its hold is confirmed; both end cancelled as expired, or the
    // customer's cancel won; every unit comes back once.
    assert_eq!(confirmed.status, 409, "{}", confirmed.text);
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let read = read_order(&app, &shop.buyer, &confirming).await;
    assert_eq!(read.body["data"]["cancelReason"], "expired");
    assert_eq!(settle_stock(&app, &shop.pen, 10).await, 10);
}
