//! Gateway behaviours: rate limits, CORS, the OpenAPI document.

use storefront_tests::{AppOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn requests_over_the_per_address_limit_get_429_with_retry_after() {
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "3")).await;

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
    assert_eq!(answer.status, 504, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "GATEWAY_TIMEOUT");
    assert_eq!(
        answer.body["error"]["details"]["service"],
        "product-service"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the timeout"
    );
    holder.abort();
}

#[tokio::test]
async fn a_chained_service_that_answers_late_gives_504_after_the_timeout() {
    // Arrange: the "product service" is a private component of the app, reached over service
    // chaining (where Spin enforces no timeout of its own), that answers after 20 s.
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = storefront_tests::manifest_variant(&dir, |text| {
        format!(
            "{text}\n[[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"probe\"\n\n\
             [component.probe]\nsource = \"probe.wasm\"\n"
        )
    });
    let mut options = AppOptions {
        manifest,
        ..AppOptions::default()
    }
    .variable("product_service_url", "http://probe.spin.internal")
    .variable("upstream_timeout_ms", "300");
    options
        .source_overrides
        .insert("probe".into(), storefront_tests::probe_component());
    let app = spawn_app_with(options).await;

    // Act
    let started = std::time::Instant::now();
    let answer = app.get("/api/products?sleep_ms=20000").await;

    // Assert
    assert_eq!(answer.status, 504, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "GATEWAY_TIMEOUT");
    assert_eq!(
        answer.body["error"]["details"]["service"],
        "product-service"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the timeout, not by the slow service"
    );
}
