//! The runner's Spin behaviour, exercised with the real components and manifest variants.

use storefront_tests::{AppOptions, manifest_variant, spawn_app, spawn_app_with, try_spawn};

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

    let answer = app
        .send(
            app.client
                .get(app.url("/health"))
                .header("host", "user-service.spin.internal"),
        )
        .await;

    // The gateway (the only public route) answered, not the user service.
    assert_eq!(
        answer.body["meta"]["service"], "api-gateway",
        "{}",
        answer.text
    );
    assert!(answer.header("x-service").is_none());
}

#[tokio::test]
async fn an_exact_route_wins_over_the_catch_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest_variant(&dir, |text| {
        text.replacen(
            "[[trigger.http]]\nroute = { private = true }\ncomponent = \"user-service\"",
            "[[trigger.http]]\nroute = \"/health\"\ncomponent = \"user-service\"",
            1,
        )
    });
    let app = spawn_app_with(AppOptions {
        manifest,
        ..AppOptions::default()
    })
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

#[tokio::test]
async fn a_host_missing_from_allowed_outbound_hosts_is_denied_not_crashed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest_variant(&dir, |text| {
        text.replacen("    \"http://order-service.spin.internal\",\n", "", 1)
    });
    let app = spawn_app_with(AppOptions {
        manifest,
        ..AppOptions::default()
    })
    .await;

    let answer = app.get("/health").await;

    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(
        answer.body["error"]["details"]["order"]["status"],
        "unhealthy"
    );
    assert_eq!(
        answer.body["error"]["details"]["product"]["status"],
        "healthy"
    );
}

#[tokio::test]
async fn an_undeclared_sqlite_label_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest_variant(&dir, |text| {
        text.replacen(
            "sqlite_databases = [\"products\"]",
            "sqlite_databases = []",
            1,
        )
    });
    let app = spawn_app_with(AppOptions {
        manifest,
        ..AppOptions::default()
    })
    .await;

    let answer = app.get("/health").await;

    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(
        answer.body["error"]["details"]["product"]["status"],
        "unhealthy"
    );
    assert!(!app.state.path().join("products.db").exists());
}

#[tokio::test]
async fn databases_live_in_the_state_dir_and_survive_a_restart() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status, 200);
    let users_db = app.state.path().join("users.db");
    assert!(users_db.exists());

    let app = app.restart().await;

    assert_eq!(app.get("/health").await.status, 200);
    assert!(app.state.path().join("users.db").exists());
    assert!(
        app.state
            .path()
            .join("logs")
            .join("user-service_stdout.txt")
            .exists()
    );
}

#[tokio::test]
async fn a_trapping_component_gives_a_500_envelope_and_the_runner_keeps_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest_variant(&dir, |text| {
        format!(
            "{text}\n[[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n\n[component.probe]\nsource = \"probe.wasm\"\n"
        )
    });
    let mut options = AppOptions {
        manifest,
        ..AppOptions::default()
    };
    options
        .source_overrides
        .insert("probe".into(), storefront_tests::probe_component());
    let app = spawn_app_with(options).await;

    let trapped = app.get("/probe/trap").await;
    let after = app.get("/probe/fine").await;
    let health = app.get("/health").await;

    assert_eq!(trapped.status, 500, "{}", trapped.text);
    assert_eq!(trapped.body["error"]["code"], "INTERNAL_ERROR");
    assert_eq!(trapped.body["message"], "An internal error occurred");
    assert!(
        !trapped.text.contains("probe asked"),
        "no trap detail leaks: {}",
        trapped.text
    );
    assert_eq!(after.status, 200);
    assert_eq!(health.status, 200, "{}", health.text);
}

#[tokio::test]
async fn a_burst_larger_than_the_instance_budget_is_queued_not_failed() {
    // Each aggregated health check holds six instances (the gateway and five services), so
    // 200 at once would need more instances than the runner's pool has if all ran together.
    let app = spawn_app().await;

    let answers = futures::future::join_all((0..200).map(|_| app.get("/health"))).await;

    let failed: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 200 failed, first: {}",
        failed.len(),
        failed[0].text
    );
}
