//! Behaviour of the project's runner itself (where it differs from Spin by design, or what
//! only it can tell): these tests always run on the runner, and the Spin passes skip them.

use std::time::Duration;

use storefront_runner::ServerLimits;
use storefront_tests::{AppOptions, spawn_app_with, try_spawn};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_trapping_component_gives_a_bare_500_as_spin_does_and_the_runner_keeps_serving() {
    let options = AppOptions::default()
        .as_one_app()
        .with_probe("\"/probe/...\"")
        .on_runner();
    let app = spawn_app_with(options).await;

    let trapped = app.get("/probe/trap").await;
    let after = app.get("/probe/fine").await;
    let health = app.get("/health").await;

    assert_eq!(trapped.status, 500, "{}", trapped.text);
    assert!(
        trapped.text.is_empty(),
        "no trap detail leaks: {}",
        trapped.text
    );
    assert_eq!(after.status, 200);
    assert_eq!(health.status, 200, "{}", health.text);
}

#[tokio::test]
async fn a_component_that_computes_forever_is_stopped_at_the_deadline_and_others_are_served() {
    let _one_at_a_time = storefront_tests::exclusive_heavy_load().await;
    // Arrange: a component that never stops computing, and a one-second instance deadline.
    let options = AppOptions {
        runner_request_timeout: Some(Duration::from_secs(1)),
        ..AppOptions::default()
            .as_one_app()
            .with_probe("\"/probe/...\"")
    }
    .on_runner();
    let app = spawn_app_with(options).await;

    // Act: two runaway requests (as many as this machine has cores) and ordinary ones.
    let started = std::time::Instant::now();
    let (first, second, health) =
        tokio::join!(app.get("/probe/spin"), app.get("/probe/spin"), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.get("/health").await
        });

    // Assert
    for runaway in [&first, &second] {
        assert_eq!(runaway.status, 500, "{}", runaway.text);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped near the deadline"
    );
    assert_eq!(health.status, 200, "served meanwhile: {}", health.text);
}

#[tokio::test]
async fn a_secret_that_cannot_be_used_stops_start_up_and_names_the_variable() {
    let cases = [
        ("jwt_secret", "too-short"),
        ("jwt_secret", "replace-with-openssl-rand-hex-32"),
        ("jwt_secret", &"ab".repeat(32)),
        ("service_token_secret", storefront_tests::TEST_JWT_SECRET),
        ("admin_bootstrap_token", "short"),
    ];
    for (variable, value) in cases {
        let state = tempfile::tempdir().expect("temp dir");

        let error = try_spawn(
            AppOptions::default().on_runner().variable(variable, value),
            state,
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{variable} = {value:?} must stop start-up"));

        assert!(format!("{error:#}").contains(variable), "{error:#}");
    }
}

/// The one-app layout on the runner, which counts each request's host calls.
fn one_app_on_the_runner() -> AppOptions {
    AppOptions::default().as_one_app().on_runner()
}

/// The host-call counts of one request made by `act`.
async fn cost_of<F: std::future::Future<Output = storefront_tests::Answer>>(
    app: &storefront_tests::TestApp,
    act: F,
) -> storefront_runner::HostCallCounts {
    // Work after earlier responses settles first; then the one request and its after-work.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = app.host_calls().expect("counted");
    let answer = act.await;
    assert!(answer.status < 500, "{}", answer.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.host_calls().expect("counted").since(&before)
}

#[tokio::test]
async fn a_product_read_costs_one_instance_and_one_database_connection() {
    // Arrange: the one-app layout, rate limits off (as the benchmark measures), a product.
    let app = spawn_app_with(
        one_app_on_the_runner()
            .variable("rate_limit_per_minute", "0")
            .variable("rate_limit_per_user_per_minute", "0"),
    )
    .await;
    let shop = app.open_shop(5).await;
    let path = format!("/api/products/{}", shop.pen);

    // Act
    let read = cost_of(&app, app.get(&path)).await;
    let page = cost_of(&app, app.get("/api/products?page=1&limit=20")).await;

    // Assert: Spin routes the path to the product service (no second instance), which opens
    // its database once for the request and the work after it: the schema check, the read
    // (a page: its count, then its rows) and the jobs' one check.
    for (cost, statements) in [(read, 3), (page, 4)] {
        assert_eq!(cost.instances, 1, "{cost:?}");
        assert_eq!(cost.sqlite_opens, 1, "{cost:?}");
        assert_eq!(cost.outbound_requests, 0, "{cost:?}");
        assert_eq!(cost.key_value_calls, 0, "{cost:?}");
        assert!(cost.sqlite_statements <= statements, "{cost:?}");
    }
}

#[tokio::test]
async fn counting_a_request_against_the_rate_limit_costs_one_more_connection() {
    let app =
        spawn_app_with(one_app_on_the_runner().variable("rate_limit_per_minute", "1000")).await;
    let shop = app.open_shop(5).await;

    let cost = cost_of(&app, app.get(&format!("/api/products/{}", shop.pen))).await;

    assert_eq!(cost.instances, 1, "{cost:?}");
    assert_eq!(
        cost.sqlite_opens, 2,
        "the product database and the edge: {cost:?}"
    );
}

#[tokio::test]
async fn the_aggregated_health_is_reused_within_health_cache_ms() {
    let app = spawn_app_with(one_app_on_the_runner().variable("health_cache_ms", "60000")).await;
    let first = cost_of(&app, app.get("/health")).await;

    let second = cost_of(&app, app.get("/health")).await;

    assert_eq!(
        first.instances, 5,
        "the gateway and four services: {first:?}"
    );
    assert_eq!(second.instances, 1, "the gateway alone: {second:?}");
    assert!(second.key_value_calls >= 1, "{second:?}");
}

#[tokio::test]
async fn a_body_trickled_past_its_deadline_is_cut_off_and_others_are_served() {
    // Arrange: bodies must arrive within two seconds.
    let app = spawn_app_with(
        AppOptions {
            runner_limits: Some(ServerLimits {
                body_timeout: Duration::from_secs(2),
                ..ServerLimits::default()
            }),
            ..AppOptions::default()
        }
        .on_runner(),
    )
    .await;
    let address = app.base_url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /api/users/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
    )
    .await
    .expect("headers");

    // Act: one byte every half second (never idle long enough for the idle timeout).
    let started = std::time::Instant::now();
    let mut cut_off = false;
    for _ in 0..20 {
        if slow.write_all(b" ").await.is_err() {
            cut_off = true;
            break;
        }
        let mut reply = [0u8; 64];
        if let Ok(Ok(read)) = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::io::AsyncReadExt::read(&mut slow, &mut reply),
        )
        .await
        {
            cut_off =
                read == 0 || String::from_utf8_lossy(&reply[..read]).starts_with("HTTP/1.1 408");
            break;
        }
    }
    let health = app.get("/health").await;

    // Assert
    assert!(cut_off, "the trickled body was still accepted");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(health.status, 200, "{}", health.text);
}

#[tokio::test]
async fn a_client_holding_its_share_of_connections_gets_no_more_while_others_are_served() {
    let _one_at_a_time = storefront_tests::exclusive_heavy_load().await;
    // Arrange: at most 4 connections from one address.
    let app = spawn_app_with(
        AppOptions {
            runner_limits: Some(ServerLimits {
                max_connections_per_client: 4,
                ..ServerLimits::default()
            }),
            ..AppOptions::default()
        }
        .on_runner(),
    )
    .await;
    let address = app.base_url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act: a fifth connection from the same address.
    let mut fifth = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    fifth
        .write_all(b"GET /health HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .ok();
    let mut reply = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncReadExt::read(&mut fifth, &mut reply),
    )
    .await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = app.get("/health").await;

    // Assert: the fifth was closed unanswered; once the others closed, requests go through.
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the fifth connection was served: {read:?}"
    );
    assert_eq!(after.status, 200, "{}", after.text);
}
