//! Gateway behaviours: rate limits, CORS, the OpenAPI document.

use serde_json::json;
use storefront_tests::{
    AppOptions, TestApp, spawn_app, spawn_app_with, with_time_left_in_rate_limit_window,
};

#[tokio::test]
async fn requests_over_the_per_address_limit_get_429_with_retry_after() {
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "3")).await;
    with_time_left_in_rate_limit_window().await;

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(app.get("/api/products").await);
    }

    assert_eq!(answers[0].header("x-ratelimit-limit"), Some("3"));
    assert_eq!(answers[0].header("x-ratelimit-remaining"), Some("2"));
    assert!(answers[..3].iter().all(|a| a.status == 200));
    let limited = &answers[3];
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.body["error"]["code"], "TOO_MANY_REQUESTS");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn replicas_sharing_the_key_value_store_count_one_limit() {
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "3")).await;
    let replica = app.replica().await;
    with_time_left_in_rate_limit_window().await;

    let first = app.get("/api/products").await;
    let second = replica.get("/api/products").await;
    let third = app.get("/api/products").await;
    let fourth = replica.get("/api/products").await;

    assert_eq!([first.status, second.status, third.status], [200, 200, 200]);
    assert_eq!(second.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(fourth.status, 429, "{}", fourth.text);
}

#[tokio::test]
async fn a_limit_of_zero_turns_rate_limiting_off() {
    let app = spawn_app_with(
        AppOptions::default()
            .variable("rate_limit_per_minute", "0")
            .variable("rate_limit_per_user_per_minute", "0"),
    )
    .await;

    for _ in 0..5 {
        let answer = app.get("/api/products").await;
        assert_eq!(answer.status, 200);
        assert!(answer.header("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn preflight_is_answered_by_the_gateway_for_allowed_origins_only() {
    let app = spawn_app_with(
        AppOptions::default().variable("cors_allowed_origins", "https://shop.example"),
    )
    .await;

    let allowed = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/products"))
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    let denied = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/products"))
                .header("origin", "https://evil.example"),
        )
        .await;
    let simple = app
        .send(
            app.client
                .get(app.url("/api/products"))
                .header("origin", "https://shop.example"),
        )
        .await;

    assert_eq!(allowed.status, 204, "{}", allowed.text);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        allowed.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("Authorization"))
    );
    assert_eq!(denied.status, 403);
    assert!(denied.header("access-control-allow-origin").is_none());
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert!(
        simple
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("X-Request-ID"))
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json() {
    let app = spawn_app().await;

    let answer = app.get("/api/openapi.json").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["openapi"], "3.1.0");
    assert!(answer.body["paths"]["/api/orders"]["post"].is_object());
}

#[tokio::test]
async fn wrong_method_is_405_before_any_auth_check() {
    let app = spawn_app().await;

    let answer = app.send(app.client.delete(app.url("/api/orders"))).await;

    assert_eq!(answer.status, 405, "{}", answer.text);
    assert_eq!(answer.header("allow"), Some("POST, GET, OPTIONS"));
}

#[tokio::test]
async fn an_upstream_that_never_answers_gives_504_after_the_timeout() {
    // Arrange: a "product service" that accepts connections and never says anything.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = silent.local_addr().expect("address");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let upstream = format!("http://{address}");
    let app = spawn_app_with(
        AppOptions::default()
            .variable("product_service_url", &upstream)
            .variable("upstream_timeout_ms", "300"),
    )
    .await;

    // Act
    let started = std::time::Instant::now();
    let answer = app.get("/api/products").await;

    // Assert
    assert_product_service_timed_out(&answer, started.elapsed());
    holder.abort();
}

/// The app with the test probe as a private component standing in for the product service.
async fn app_with_probe_as_product_service(options: AppOptions) -> TestApp {
    spawn_app_with(
        options
            .with_probe("{ private = true }")
            .variable("product_service_url", "http://probe.spin.internal"),
    )
    .await
}

/// A 504 from the gateway for the product service, well within the client's patience.
fn assert_product_service_timed_out(
    answer: &storefront_tests::Answer,
    waited: std::time::Duration,
) {
    assert_eq!(answer.status, 504, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "GATEWAY_TIMEOUT");
    assert_eq!(
        answer.body["error"]["details"]["service"],
        "product-service"
    );
    assert!(
        waited < std::time::Duration::from_secs(5),
        "bounded by the timeout, not by the slow service: {waited:?}"
    );
}

#[tokio::test]
async fn a_chained_service_that_answers_late_gives_504_after_the_timeout() {
    // Arrange: the "product service" is a private component of the app, reached over service
    // chaining (where Spin enforces no timeout of its own), that answers after 20 s.
    let app = app_with_probe_as_product_service(
        AppOptions::default().variable("upstream_timeout_ms", "300"),
    )
    .await;

    // Act
    let started = std::time::Instant::now();
    let answer = app.get("/api/products?sleep_ms=20000").await;

    // Assert
    assert_product_service_timed_out(&answer, started.elapsed());
}

#[tokio::test]
async fn rate_limit_counters_of_past_windows_are_deleted() {
    // Arrange: counters left from earlier windows (a client long gone, and the key format
    // of the previous release), as key-value keeps them forever unless deleted.
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "100")).await;
    assert_eq!(app.get("/api/products").await.status, 200);
    app.key_value_set("ratelimit:1:addr:203.0.113.9", "7").await;
    app.key_value_set("ratelimit:addr:198.51.100.7", "1 3")
        .await;
    app.key_value_set("ratelimit:swept", "1").await;

    // Act: the next request finds the sweep of this window not done yet.
    let answer = app.get("/api/products").await;

    // Assert: the sweep, run after the response, leaves this window's counter (and the
    // sweep marker).
    assert_eq!(answer.status, 200, "{}", answer.text);
    let stale = |keys: &[String]| {
        keys.iter()
            .any(|key| key.contains("203.0.113.9") || key.contains("198.51.100.7"))
    };
    let mut keys = app.key_value_keys().await;
    for _ in 0..100 {
        if !stale(&keys) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        keys = app.key_value_keys().await;
    }
    assert!(!stale(&keys), "{keys:?}");
    assert!(
        keys.iter().any(|key| key.ends_with(":addr:127.0.0.1")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_client_cannot_pick_its_rate_limit_bucket_with_x_forwarded_for() {
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "2")).await;
    with_time_left_in_rate_limit_window().await;

    let mut statuses = Vec::new();
    for index in 0..3 {
        let answer = app
            .send(
                app.client
                    .get(app.url("/api/products"))
                    .header("x-forwarded-for", format!("10.0.0.{index}"))
                    .header("forwarded", format!("for=10.0.1.{index}")),
            )
            .await;
        statuses.push(answer.status);
    }

    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn services_see_the_gateways_x_forwarded_for_and_no_credentials_of_the_client_but_its_token()
{
    // Arrange: a service that echoes the headers it receives.
    let app = app_with_probe_as_product_service(AppOptions::default()).await;

    // Act
    let answer = app
        .send(
            app.client
                .get(app.url("/api/products/echo"))
                .header("x-forwarded-for", "10.9.8.7")
                .header("forwarded", "for=10.9.8.7")
                .header("x-service-token", "forged")
                .header("authorization", "Bearer the-clients-token"),
        )
        .await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    let seen = &answer.body;
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{seen}");
    assert!(seen.get("forwarded").is_none(), "{seen}");
    assert_eq!(seen["authorization"], json!(["Bearer the-clients-token"]));
    let token = seen["x-service-token"][0].as_str().unwrap_or_default();
    assert_ne!(token, "forged", "{seen}");
    assert_eq!(seen["x-service-token"].as_array().map(Vec::len), Some(1));
}
