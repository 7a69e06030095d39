//! Rate limits: per client address and per user, counted atomically in the shared `edge`
//! database by whichever component serves the request, in every layout.

use reqwest::Method;
use storefront_tests::{AppOptions, TestApp, spawn_app_with, with_time_left_in_rate_limit_window};

/// The app with `per_minute` requests a minute from one address, at a time with enough of
/// the current window left for a test to count a few requests in it.
async fn app_limited_to(per_minute: usize) -> TestApp {
    let app = spawn_app_with(
        AppOptions::default().variable("rate_limit_per_minute", &per_minute.to_string()),
    )
    .await;
    with_time_left_in_rate_limit_window().await;
    app
}

#[tokio::test]
async fn requests_over_the_per_address_limit_get_429_with_retry_after() {
    let app = app_limited_to(3).await;

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(app.get("/api/products").await);
    }

    assert_eq!(answers[0].header("x-ratelimit-limit"), Some("3"));
    assert_eq!(answers[0].header("x-ratelimit-remaining"), Some("2"));
    assert!(answers[..3].iter().all(|a| a.status == 200));
    let limited = &answers[3];
    limited.assert_error(429, "TOO_MANY_REQUESTS");
    assert!((1..=60).contains(&limited.retry_after()));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn one_limit_holds_across_every_service() {
    let app = app_limited_to(3).await;

    let products = app.get("/api/products").await;
    let users = app.get("/api/users/me").await;
    let orders = app.get("/api/orders").await;
    let fourth = app.get("/api/notifications").await;

    assert_eq!(products.status, 200);
    assert_eq!([users.status, orders.status], [401, 401]);
    assert_eq!(fourth.status, 429, "{}", fourth.text);
}

#[tokio::test]
async fn of_four_times_the_limit_sent_at_once_at_most_the_limit_pass() {
    // Arrange
    let limit = 25;
    let app = app_limited_to(limit).await;

    // Act: 4L concurrent requests from one address.
    let requests = (0..4 * limit).map(|_| app.get("/api/products"));
    let answers = futures::future::join_all(requests).await;

    // Assert
    let passed = answers.iter().filter(|a| a.status == 200).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert!(passed <= limit, "{passed} of {} passed", answers.len());
    assert_eq!(passed + limited, answers.len(), "only 200s and 429s");
    assert!(passed > 0);
}

#[tokio::test]
async fn replicas_sharing_their_storage_count_one_limit() {
    let app = app_limited_to(3).await;
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
async fn a_client_cannot_pick_its_rate_limit_bucket_with_forwarding_or_spin_headers() {
    let app = app_limited_to(2).await;

    let mut statuses = Vec::new();
    for index in 0..3 {
        let forwarded_for = format!("10.0.0.{index}");
        let forwarded = format!("for=10.0.1.{index}");
        let client_addr = format!("10.0.2.{index}:4000");
        let headers = [
            ("x-forwarded-for", forwarded_for.as_str()),
            ("forwarded", forwarded.as_str()),
            ("spin-client-addr", client_addr.as_str()),
        ];
        statuses.push(
            app.request(Method::GET, "/api/products", &headers)
                .await
                .status,
        );
    }

    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn counters_of_windows_before_the_previous_one_are_deleted() {
    // Arrange: counters left by clients long gone.
    let app = spawn_app_with(AppOptions::default().variable("rate_limit_per_minute", "100")).await;
    assert_eq!(app.get("/api/products").await.status, 200);
    for subject in ["addr:203.0.113.9", "addr:198.51.100.7"] {
        app.change_one_row(
            "edge",
            "INSERT INTO edge_rate_counters (subject, window, hits) VALUES (?1, 1, 7)",
            vec![subject.to_string().into()],
        )
        .await;
    }

    // Act: a request that counts, and so prunes after its response.
    let answer = app.get("/api/products").await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    let left = app
        .query_i64_until(
            "edge",
            "SELECT COUNT(*) FROM edge_rate_counters WHERE window = 1",
            0,
        )
        .await;
    assert_eq!(left, 0);
    let current = app
        .query_i64(
            "edge",
            "SELECT COUNT(*) FROM edge_rate_counters WHERE subject = 'addr:127.0.0.1'",
        )
        .await;
    assert_eq!(current, 1, "this window's counter stays");
}
