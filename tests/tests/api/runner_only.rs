//! Behaviour of the project's runner itself, where it differs from Spin by design: these
//! tests always run on the runner, and the Spin pass of the suite skips them.

use storefront_tests::{AppOptions, manifest_variant, spawn_app_with};

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
    }
    .on_runner();
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
