//! What the gateway does: CORS everywhere, the OpenAPI document, 405 before authentication,
//! upstream timeouts, and, between apps, the proxy to the services.

use std::time::{Duration, Instant};

use reqwest::Method;
use storefront_tests::fake::FakeService;
use storefront_tests::{Answer, AppOptions, TestApp, order_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn preflight_is_answered_for_allowed_origins_only_whichever_component_owns_the_path() {
    let app = spawn_app_with(
        AppOptions::default().variable("cors_allowed_origins", "https://shop.example"),
    )
    .await;

    let allowed = app
        .request(
            Method::OPTIONS,
            "/api/products",
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    let from = |method: Method, path: &'static str, origin: &'static str| {
        app.request(method, path, &[("origin", origin)])
    };
    let denied = from(Method::OPTIONS, "/api/products", "https://evil.example").await;
    let simple = from(Method::GET, "/api/products", "https://shop.example").await;
    let gateway_path = from(Method::OPTIONS, "/health", "https://shop.example").await;

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
            .is_some_and(|h| h.contains("Authorization") && h.contains("X-Admin-Bootstrap-Token"))
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
    assert_eq!(gateway_path.status, 204, "{}", gateway_path.text);
    assert_eq!(
        gateway_path.header("access-control-allow-methods"),
        Some("GET")
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
async fn every_public_answer_names_the_gateway_and_the_service_that_answered() {
    let app = spawn_app().await;

    let product_list = app.get("/api/products").await;
    let missing = app.get("/api/nothing-here").await;

    assert!(product_list.header("x-gateway").is_some());
    assert_eq!(product_list.header("x-service"), Some("product-service"));
    assert!(product_list.header("x-version").is_some());
    assert_eq!(product_list.body["meta"]["service"], "product-service");
    assert_eq!(missing.status, 404);
    assert!(missing.header("x-gateway").is_some());
}

/// A new buyer's order of a product the product service is asked about: the answer, and
/// how long it took.
async fn timed_order(app: &TestApp) -> (Answer, Duration) {
    let buyer = app.register("buyer@example.com").await;
    let started = Instant::now();
    let answer = app.place_order(&buyer, &order_of("prd_anything", 1)).await;
    (answer, started.elapsed())
}

/// A 504 naming the product service, well within the client's patience.
fn assert_product_service_timed_out(answer: &Answer, waited: Duration) {
    answer.assert_error(504, "GATEWAY_TIMEOUT");
    assert_eq!(answer.details()["service"], "product-service");
    assert!(
        waited < Duration::from_secs(5),
        "bounded by the timeout, not by the slow service: {waited:?}"
    );
}

#[tokio::test]
async fn a_service_that_never_answers_gives_504_after_the_timeout() {
    // Arrange: the order service's "product service" accepts connections and never says
    // anything.
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
    let app = spawn_app_with(
        AppOptions::default()
            .variable("product_service_url", &format!("http://{address}"))
            .variable("upstream_timeout_ms", "300"),
    )
    .await;

    // Act
    let (answer, waited) = timed_order(&app).await;

    // Assert
    assert_product_service_timed_out(&answer, waited);
    holder.abort();
}

#[tokio::test]
async fn a_chained_service_that_answers_late_gives_504_after_the_timeout() {
    // Arrange: the "product service" is a private component of the app, reached over service
    // chaining (where Spin enforces no timeout of its own), that answers after 20 s.
    let app = spawn_app_with(
        AppOptions::default()
            .as_one_app()
            .with_probe("{ private = true }")
            .with_manifest(|text| {
                format!("{text}\n[component.probe.variables]\nsleep_ms = \"20000\"\n")
            })
            .variable("product_service_url", "http://probe.spin.internal")
            .variable("upstream_timeout_ms", "300"),
    )
    .await;

    // Act
    let (answer, waited) = timed_order(&app).await;

    // Assert
    assert_product_service_timed_out(&answer, waited);
}

#[tokio::test]
async fn between_apps_the_gateway_forwards_the_request_unchanged_but_for_what_only_the_app_may_set()
{
    // Arrange: split apps whose product service is a stand-in that records what it gets.
    let seen = FakeService::start(|_| 200).await;
    let app = spawn_app_with(
        AppOptions::default()
            .as_split()
            .variable("product_service_url", &format!("http://{}", seen.addr)),
    )
    .await;

    // Act
    let answer = app
        .request(
            Method::GET,
            "/api/products/prd_1?fields=name",
            &[
                ("x-forwarded-for", "10.9.8.7"),
                ("forwarded", "for=10.9.8.7"),
                ("x-service-token", "forged"),
                ("x-user-id", "usr_admin"),
                ("spin-client-addr", "10.9.8.7:1"),
                ("authorization", "Bearer the-clients-token"),
            ],
        )
        .await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    let received = seen.received();
    let request = received.last().expect("the stand-in was called");
    assert_eq!(request.path, "/api/products/prd_1");
    assert_eq!(request.header("x-forwarded-for"), Some("127.0.0.1"));
    assert!(request.header("forwarded").is_none());
    assert!(request.header("x-user-id").is_none());
    assert!(
        request
            .headers
            .iter()
            .all(|(name, value)| !name.starts_with("spin-") || !value.contains("10.9.8.7")),
        "{:?}",
        request.headers
    );
    assert_eq!(
        request.header("authorization"),
        Some("Bearer the-clients-token")
    );
    let token = request.header("x-service-token").unwrap_or_default();
    assert_ne!(token, "forged");
    let keys =
        auth::ServiceKeys::from_secret(storefront_tests::TEST_SERVICE_TOKEN_SECRET).expect("keys");
    assert_eq!(
        keys.verify(token, "product-service").as_deref(),
        Ok("api-gateway")
    );
}

#[tokio::test]
async fn between_apps_a_body_over_the_limit_through_the_gateway_is_a_413_envelope() {
    // Arrange: the gateway relays bodies to services over real HTTP between apps.
    let app = spawn_app_with(AppOptions::default().as_split()).await;

    // Act
    let over = app
        .post_raw(
            "/api/users/login",
            "application/json",
            vec![b' '; 1024 * 1024 + 1],
        )
        .await;

    // Assert
    over.assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn the_split_layout_serves_a_whole_order_story_through_the_gateway() {
    let app = spawn_app_with(AppOptions::default().as_split()).await;

    let shop = app.open_shop(5).await;
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;
    let health = app.get("/health").await;

    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.header("x-service"), Some("order-service"));
    assert!(order.header("x-gateway").is_some());
    assert_eq!(health.status, 200, "{}", health.text);
}
