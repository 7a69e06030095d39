//! Spin behaviour the app relies on (private routes, route precedence, outbound allow-lists,
//! declared SQLite labels, required variables, state across restarts), exercised with the
//! real components and manifest variants under whichever host the suite runs on.

use storefront_tests::{
    Answer, AppOptions, HostKind, TestApp, replace_once, spawn_app, spawn_app_with, try_spawn,
};

#[tokio::test]
async fn a_missing_required_variable_stops_start_up_and_names_it() {
    let options = AppOptions::default().without_variable("jwt_secret");
    let state = tempfile::tempdir().expect("temp dir");

    let error = try_spawn(options, state)
        .await
        .err()
        .expect("start-up must fail");

    assert!(format!("{error:#}").contains("jwt_secret"), "{error:#}");
}

#[tokio::test]
async fn private_components_cannot_be_reached_from_outside_even_by_host_name() {
    let app = spawn_app().await;

    let outcome = app
        .client
        .get(app.url("/health"))
        .header("host", "user-service.spin.internal")
        .send()
        .await;

    // The runner routes by path, so the gateway (the only public route) answers; Spin drops
    // a request that names an internal host. Either way the user service never answers.
    assert!(
        outcome.is_ok() || app.host() == HostKind::Spin,
        "{outcome:?}"
    );
    if let Ok(response) = outcome {
        assert!(response.headers().get("x-service").is_none());
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(body["meta"]["service"], "api-gateway", "{body}");
    }
}

#[tokio::test]
async fn an_exact_route_wins_over_the_catch_all() {
    let app = spawn_app_with(AppOptions::default().as_one_app().with_manifest(|text| {
        format!("{text}\n[[trigger.http]]\nroute = \"/health\"\ncomponent = \"user-service\"\n")
    }))
    .await;

    let exact = app.get("/health").await;
    let other = app.get("/anything").await;

    assert_eq!(
        exact.body["meta"]["service"], "user-service",
        "{}",
        exact.text
    );
    assert_eq!(
        other.body["meta"]["service"], "api-gateway",
        "{}",
        other.text
    );
}

/// The app of `spin.toml` with `from` replaced by `to`.
async fn app_with_manifest_edit(from: &'static str, to: &'static str) -> TestApp {
    spawn_app_with(AppOptions::default().with_manifest(move |text| replace_once(&text, from, to)))
        .await
}

/// Each service's health as the aggregated `/health` reports it while one is unhealthy.
fn reported_health<'a>(health: &'a Answer, service: &str) -> &'a serde_json::Value {
    assert_eq!(health.status, 503, "{}", health.text);
    &health.details()[service]["status"]
}

#[tokio::test]
async fn a_host_missing_from_allowed_outbound_hosts_is_denied_not_crashed() {
    let app = app_with_manifest_edit("    \"{{ order_service_url }}\",\n", "").await;

    let answer = app.get("/health").await;

    assert_eq!(reported_health(&answer, "order"), "unhealthy");
    assert_eq!(reported_health(&answer, "product"), "healthy");
}

#[tokio::test]
async fn an_undeclared_sqlite_label_is_refused() {
    let app = app_with_manifest_edit(
        "sqlite_databases = [\"products\", \"edge\"]",
        "sqlite_databases = [\"edge\"]",
    )
    .await;

    let answer = app.get("/health").await;

    assert_eq!(reported_health(&answer, "product"), "unhealthy");
    if !app.storage().one_database_file {
        assert!(!app.database_path("products").exists());
    }
}

#[tokio::test]
async fn databases_live_in_the_state_dir_and_survive_a_restart() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status, 200);
    assert!(app.database_path("users").exists());

    let app = app.restart().await;

    assert_eq!(app.get("/health").await.status, 200);
    assert!(app.database_path("users").exists());
    assert!(
        app.state
            .path()
            .join("logs")
            .join("user-service_stdout.txt")
            .exists()
    );
}

#[tokio::test]
async fn a_burst_larger_than_the_instance_budget_is_queued_not_failed() {
    let _one_at_a_time = storefront_tests::exclusive_heavy_load().await;
    // Each aggregated health check holds five instances (the gateway and four services), so
    // 200 at once would need more instances than the runner's pool has if all ran together.
    // (One app: split apps in one test process would share one process's slots, which no
    // deployment of them does.)
    let app = spawn_app_with(AppOptions::default().as_one_app()).await;

    let answers = futures::future::join_all((0..200).map(|_| app.get("/health"))).await;

    let failed: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 200 failed, first: {}",
        failed.len(),
        failed[0].text
    );
}

#[tokio::test]
async fn clients_that_stall_their_bodies_do_not_hold_up_anyone_else() {
    let _one_at_a_time = storefront_tests::exclusive_heavy_load().await;
    // Arrange: 130 clients send a request's headers, promise a body, and never send it.
    let app = spawn_app().await;
    let address = app.base_url.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..130 {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(
            &mut stream,
            b"POST /api/users/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .expect("send headers");
        stalled.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Act
    let started = std::time::Instant::now();
    let answer = app.get("/health").await;
    let waited = started.elapsed();

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        waited < std::time::Duration::from_secs(1),
        "/health took {waited:?} with 130 stalled clients"
    );
    drop(stalled);
}
