//! Behaviour of the project's runner itself, where it differs from Spin by design: these
//! tests always run on the runner, and the Spin pass of the suite skips them.

use storefront_tests::{AppOptions, spawn_app_with};

#[tokio::test]
async fn a_trapping_component_gives_a_500_envelope_and_the_runner_keeps_serving() {
    let options = AppOptions::default()
        .with_probe("\"/probe/...\"")
        .on_runner();
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
async fn a_component_that_computes_forever_is_stopped_at_the_deadline_and_others_are_served() {
    let _one_at_a_time = storefront_tests::exclusive_heavy_load().await;
    // Arrange: a component that never stops computing, and a one-second instance deadline.
    let options = AppOptions {
        runner_request_timeout: Some(std::time::Duration::from_secs(1)),
        ..AppOptions::default().with_probe("\"/probe/...\"")
    }
    .on_runner();
    let app = spawn_app_with(options).await;

    // Act: two runaway requests (as many as this machine has cores) and ordinary ones.
    let started = std::time::Instant::now();
    let (first, second, health) =
        tokio::join!(app.get("/probe/spin"), app.get("/probe/spin"), async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            app.get("/health").await
        });

    // Assert
    for runaway in [&first, &second] {
        assert_eq!(runaway.status, 500, "{}", runaway.text);
        assert_eq!(runaway.body["error"]["code"], "INTERNAL_ERROR");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped near the deadline"
    );
    assert_eq!(health.status, 200, "served meanwhile: {}", health.text);
}
