//! Events and notifications, end to end: outbox, delivery, dedup, outage.

use std::time::Duration;

use platform::Service;
use serde_json::{Value, json};
use storefront_tests::fake::{FakeService, Received};
use storefront_tests::{
    AppOptions, Registered, TEST_SERVICE_TOKEN_SECRET, TestApp, manifest_variant, poll_until,
    replace_once, service_token, spawn_app, spawn_app_with, spawn_shop, try_spawn,
};

/// Polls the caller's notifications until `done` holds of their `data` (delivery happens
/// after the response); the last answer's body.
async fn notifications_until(
    app: &TestApp,
    user: &Registered,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let read = || async move {
        let answer = app.get_as("/api/notifications", &user.token).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    };
    let last = poll_until(50, Duration::from_millis(100), read, |body| {
        done(&body["data"])
    })
    .await;
    assert!(
        done(&last["data"]),
        "condition not reached; last answer: {last}"
    );
    last
}

/// What a fake service has received, once `done` holds of it (or after five seconds).
async fn received_until(
    service: &FakeService,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    poll_until(
        100,
        Duration::from_millis(50),
        || std::future::ready(service.received()),
        |received| done(received),
    )
    .await
}

fn count(data: &Value) -> usize {
    data.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn registering_creates_a_welcome_notification() {
    let app = spawn_app().await;
    let user = app.register("welcome@example.com").await;

    let body = notifications_until(&app, &user, |data| count(data) == 1).await;

    let note = &body["data"][0];
    assert_eq!(note["type"], "welcome");
    assert_eq!(note["read"], false);
    assert_eq!(note["readAt"], Value::Null);
    for field in ["id", "title", "message", "data", "createdAt"] {
        assert!(note.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn an_order_creates_a_confirmation_naming_the_order_and_total() {
    let (app, shop) = spawn_shop(5).await;
    let answer = app.place_order(&shop.buyer, &shop.order_of_pens(3)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let order_id = answer.body["data"]["id"].as_str().expect("id").to_string();

    let body = notifications_until(&app, &shop.buyer, |data| count(data) == 2).await;

    let confirmation = &body["data"][0];
    assert_eq!(confirmation["type"], "order.confirmation");
    assert_eq!(
        confirmation["data"],
        json!({"orderId": order_id, "totalAmount": 3.0})
    );
    assert!(
        confirmation["message"]
            .as_str()
            .is_some_and(|m| m.contains(&order_id))
    );
    assert_eq!(body["data"][1]["type"], "welcome");
}

#[tokio::test]
async fn marking_read_is_for_the_owner_and_unread_filters() {
    let app = spawn_app().await;
    let owner = app.register("owner@example.com").await;
    let other = app.register("other@example.com").await;
    let body = notifications_until(&app, &owner, |data| count(data) == 1).await;
    let id = body["data"][0]["id"].as_str().expect("id").to_string();
    let read_url = app.url(&format!("/api/notifications/{id}/read"));

    let by_other = app
        .send(app.authed(app.client.patch(&read_url), &other.token))
        .await;
    let by_owner = app
        .send(app.authed(app.client.patch(&read_url), &owner.token))
        .await;
    let unread = app
        .get_as("/api/notifications?unread=true", &owner.token)
        .await;
    let bad_filter = app
        .get_as("/api/notifications?unread=maybe", &owner.token)
        .await;

    assert_eq!(by_other.status, 404, "{}", by_other.text);
    assert_eq!(by_owner.status, 200, "{}", by_owner.text);
    assert_eq!(by_owner.body["data"]["read"], true);
    assert!(by_owner.body["data"]["readAt"].is_string());
    assert_eq!(unread.body["data"], json!([]));
    assert_eq!(bad_filter.status, 400);
}

/// The app with the notification service's event intake reachable from outside.
async fn app_with_direct_notification_service() -> TestApp {
    spawn_app_with(AppOptions::default().exposing_private_endpoints()).await
}

#[tokio::test]
async fn replaying_an_event_creates_no_duplicate() {
    let app = app_with_direct_notification_service().await;
    let user = app.register("replay@example.com").await;
    notifications_until(&app, &user, |data| count(data) == 1).await;
    let event = json!({"id": "evt_fixed", "type": "order.created", "occurredAt": "2026-11-24T10:00:00.000Z",
        "source": "order-service", "data": {"orderId": "ord_x", "userId": user.id, "totalAmount": 1.5, "itemCount": 1}});

    let post_as = |producer: &'static str| {
        app.send(
            app.client
                .post(app.private_url(Service::Notifications, "/events"))
                .header(
                    "x-service-token",
                    service_token(producer, "notification-service"),
                )
                .json(&event),
        )
    };
    let unsigned = app
        .send(
            app.client
                .post(app.private_url(Service::Notifications, "/events"))
                .json(&event),
        )
        .await;
    let from_another_producer = post_as("user-service").await;

    let first = post_as("order-service").await;
    let again = post_as("order-service").await;

    assert_eq!(
        unsigned.status, 401,
        "only producers may post events: {}",
        unsigned.text
    );
    assert_eq!(
        from_another_producer.status, 403,
        "an event's type belongs to one producer: {}",
        from_another_producer.text
    );
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["data"]["duplicate"], true);
    let body = notifications_until(&app, &user, |data| count(data) == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = app.get_as("/api/notifications", &user.token).await;
    assert_eq!(count(&after.body["data"]), 2, "{body}");
}

#[tokio::test]
async fn events_raised_during_a_notification_outage_are_delivered_once_it_is_back() {
    // Arrange: producers point at a notification service that does not answer.
    let state = tempfile::tempdir().expect("state");
    let state_path = state.path().to_path_buf();
    // Failed deliveries wait before their next try; keep that short here.
    let options = AppOptions::default().variable("outbox_retry_base_ms", "100");
    let outage = try_spawn(
        options
            .clone()
            .variable("notification_service_url", "http://127.0.0.1:9"),
        state,
    )
    .await
    .expect("starts");

    // Act 1: producers keep working during the outage.
    let first = outage.register("first@example.com").await;
    let second = outage.register("second@example.com").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act 2: the notification service is reachable again; a later request to the producer
    // delivers the backlog.
    let app = outage.restart_with(options).await;
    assert_eq!(app.state.path(), state_path);
    let login = app.login("first@example.com", "correct-horse").await;
    assert_eq!(login.status, 200, "{}", login.text);

    // Assert: each user has exactly one welcome, none lost, none doubled.
    for user in [&first, &second] {
        let body = notifications_until(&app, user, |data| count(data) >= 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let settled = app.get_as("/api/notifications", &user.token).await;
        assert_eq!(count(&settled.body["data"]), 1, "{body}");
        assert_eq!(settled.body["data"][0]["type"], "welcome");
    }
}

/// The app with its notification service at `notifications`, and producers that give up on
/// an event after `max_attempts` tries, `retry_base_ms` apart at first.
async fn app_notifying(
    notifications: &FakeService,
    max_attempts: &str,
    retry_base_ms: &str,
) -> TestApp {
    spawn_app_with(
        AppOptions::default()
            .variable("notification_service_url", &notifications.url())
            .variable("outbox_max_attempts", max_attempts)
            .variable("outbox_retry_base_ms", retry_base_ms),
    )
    .await
}

#[tokio::test]
async fn an_event_that_keeps_failing_blocks_no_later_event_and_is_dead_lettered() {
    // Arrange: a notification service elsewhere that refuses one user's events.
    let notifications = FakeService::start(|request| {
        if request.body.contains("poison@") {
            500
        } else {
            201
        }
    })
    .await;
    let app = app_notifying(&notifications, "3", "100").await;

    // Act: the failing event first, then others; later requests give it its retries.
    app.register("poison@example.com").await;
    app.register("later@example.com").await;
    let mut dead_lettered = Value::Null;
    for _ in 0..60 {
        let health = app.get("/health").await;
        dead_lettered = health.body["data"]["user"]["outbox"]["deadLettered"].clone();
        if dead_lettered == 1 {
            break;
        }
        app.login("later@example.com", "correct-horse").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert: the later event went out; the failing one was tried exactly three times.
    let received = notifications.received();
    let for_user = |email: &str| {
        received
            .iter()
            .filter(|request| request.json()["data"]["email"] == email)
            .count()
    };
    assert_eq!(for_user("later@example.com"), 1, "{received:?}");
    assert_eq!(for_user("poison@example.com"), 3, "{received:?}");
    assert_eq!(dead_lettered, 1);
    let health = app.get("/health").await;
    assert_eq!(
        health.body["data"]["user"]["outbox"]["pending"], 0,
        "{}",
        health.text
    );
}

#[tokio::test]
async fn events_carry_a_service_token_and_never_a_users_token() {
    // Arrange: a notification service elsewhere that records what it gets.
    let notifications = FakeService::start(|_| 201).await;
    let app = spawn_app_with(
        AppOptions::default().variable("notification_service_url", &notifications.url()),
    )
    .await;
    let shop = app.open_shop(5).await;

    // Act: an order, made with the buyer's token, raises order.created.
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let received = received_until(&notifications, |received| {
        received.iter().any(|r| r.json()["type"] == "order.created")
    })
    .await;

    // Assert
    assert!(
        received.iter().any(|r| r.json()["type"] == "order.created"),
        "{received:?}"
    );
    for request in &received {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/events")
        );
        assert!(request.header("authorization").is_none(), "{request:?}");
        let token = request.header("x-service-token").expect("signed");
        let caller = auth::ServiceKeys::from_secret(TEST_SERVICE_TOKEN_SECRET)
            .expect("keys")
            .verify(token, "notification-service");
        assert!(
            matches!(
                caller.as_deref(),
                Ok("user-service" | "product-service" | "order-service")
            ),
            "{caller:?}"
        );
    }
}

#[tokio::test]
async fn the_webhook_gets_each_notification_without_any_credential() {
    // Arrange: a webhook receiver, allowed for the notification service.
    let webhook = FakeService::start(|_| 200).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = webhook.url();
    let manifest = manifest_variant(&dir, |text| {
        replace_once(
            &text,
            "allowed_outbound_hosts = []",
            &format!("allowed_outbound_hosts = [\"{origin}\"]"),
        )
    });
    let app = spawn_app_with(
        AppOptions {
            manifest,
            ..AppOptions::default()
        }
        .variable(
            "notification_webhook_url",
            &format!("{origin}/hooks/storefront"),
        ),
    )
    .await;

    // Act
    let user = app.register("hooked@example.com").await;
    let received = received_until(&webhook, |received| !received.is_empty()).await;

    // Assert
    let [delivery] = received.as_slice() else {
        panic!("expected one webhook call, got {received:?}");
    };
    assert_eq!(delivery.path, "/hooks/storefront");
    assert_eq!(delivery.json()["type"], "welcome");
    assert!(delivery.header("authorization").is_none(), "{delivery:?}");
    assert!(delivery.header("x-service-token").is_none(), "{delivery:?}");
    assert!(!delivery.body.contains(&user.token));
}

/// The dead letters an admin lists after a request (work after it moves the outboxes on).
async fn dead_letters_after_a_request(app: &TestApp, admin: &Registered) -> Value {
    app.get("/health").await;
    let answer = app.get_as("/api/admin/dead-letters", &admin.token).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

#[tokio::test]
async fn admins_see_every_producers_dead_letters_and_send_one_again() {
    // Arrange: a notification service elsewhere that refuses everything until told not to,
    // and producers that give up after two tries.
    let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let switch = refusing.clone();
    let notifications = FakeService::start(move |_| {
        if switch.load(std::sync::atomic::Ordering::SeqCst) {
            503
        } else {
            201
        }
    })
    .await;
    let app = app_notifying(&notifications, "2", "50").await;
    let admin = app.register("admin@example.com").await;
    let user = app.register("dead@example.com").await;
    let listed = poll_until(
        100,
        Duration::from_millis(60),
        || dead_letters_after_a_request(&app, &admin),
        |listed| listed["meta"]["pagination"]["total"] == 2,
    )
    .await;

    // Act
    let as_user = app.get_as("/api/admin/dead-letters", &user.token).await;
    let anonymous = app.get("/api/admin/dead-letters").await;
    let newest = listed["data"][0].clone();
    refusing.store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = app
        .post_as(
            &format!(
                "/api/admin/dead-letters/{}/retry",
                newest["id"].as_str().unwrap_or_default()
            ),
            &admin.token,
        )
        .await;
    let unknown = app
        .post_as(
            "/api/admin/dead-letters/user-service.evt_none/retry",
            &admin.token,
        )
        .await;
    let mut delivered = false;
    for _ in 0..100 {
        delivered = notifications.received().iter().any(|request| {
            request.json()["id"].as_str().is_some_and(|id| {
                newest["id"]
                    .as_str()
                    .is_some_and(|public| public.ends_with(id))
            }) && request.json()["type"] == newest["type"]
        }) && app
            .get_as("/api/admin/dead-letters", &admin.token)
            .await
            .body["meta"]["pagination"]["total"]
            == 1;
        if delivered {
            break;
        }
        app.get("/health").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: both welcomes were dead-lettered, newest first, each naming its producer.
    assert_eq!(listed["meta"]["pagination"]["total"], 2, "{listed}");
    assert_eq!(newest["type"], "user.created");
    assert_eq!(newest["source"], "user-service");
    assert_eq!(newest["attempts"], 2);
    assert!(newest["lastError"].is_string());
    assert!(newest["createdAt"].as_str() >= listed["data"][1]["createdAt"].as_str());
    assert!(
        newest["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("user-service."))
    );
    assert_eq!(as_user.status, 403);
    assert_eq!(anonymous.status, 401);
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert!(
        delivered,
        "the retried event went out and left the dead letters"
    );
}
