//! Rules every response follows: envelope, request id, timing, 404/405.

use reqwest::Method;
use storefront_tests::{AppOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_response_carries_request_id_and_response_time() {
    let app = spawn_app().await;

    let answer = app.get("/health").await;

    let request_id = answer.header("x-request-id").expect("x-request-id");
    assert_eq!(answer.body["meta"]["requestId"], request_id);
    assert!(
        answer
            .header("x-response-time")
            .is_some_and(|v| v.ends_with("ms"))
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(
        answer.body["meta"]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let app = spawn_app().await;

    let with_request_id = |id: &str| app.request(Method::GET, "/health", &[("x-request-id", id)]);
    let sane = with_request_id("client-id.42").await;
    let unsafe_id = with_request_id("bad id <x>").await;

    assert_eq!(sane.header("x-request-id"), Some("client-id.42"));
    let replaced = unsafe_id.header("x-request-id").expect("x-request-id");
    assert_ne!(replaced, "bad id <x>");
    assert_eq!(replaced.len(), 36, "a UUID: {replaced}");
}

#[tokio::test]
async fn unknown_path_is_a_404_envelope() {
    let app = spawn_app().await;

    let answer = app.get("/no/such/route").await;

    answer.assert_error(404, "NOT_FOUND");
    assert_eq!(answer.body["success"], false);
    assert!(answer.body.get("data").is_none());
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;

    let answer = app.request(Method::DELETE, "/health", &[]).await;

    answer.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(answer.header("allow"), Some("GET, OPTIONS"));
}

#[tokio::test]
async fn a_body_with_another_content_type_is_415() {
    let app = spawn_app().await;

    let answer = app.post_raw("/health", "text/plain", "hi").await;

    answer.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_one_at_the_limit_is_not() {
    let app = spawn_app().await;
    let limit = 1024 * 1024;

    let over = app
        .post_raw("/health", "application/json", vec![b' '; limit + 1])
        .await;
    let at_limit = app
        .post_raw("/health", "application/json", vec![b' '; limit])
        .await;

    over.assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        at_limit.status, 405,
        "at the limit the body is read and routing decides: {}",
        at_limit.text
    );
}

#[tokio::test]
async fn a_body_over_the_limit_to_a_service_is_a_413_the_client_can_read_chunked_or_not() {
    let app = spawn_app().await;
    let over = vec![b' '; 1024 * 1024 + 1];

    let sized = app
        .post_raw("/api/users/login", "application/json", over.clone())
        .await;
    let chunks = futures::stream::iter(
        over.chunks(64 * 1024)
            .map(|chunk| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(chunk)))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .post_raw(
            "/api/users/login",
            "application/json",
            reqwest::Body::wrap_stream(chunks),
        )
        .await;

    // (Between apps the gateway reads the body first and answers the 413 itself.)
    for answer in [&sized, &chunked] {
        answer.assert_error(413, "PAYLOAD_TOO_LARGE");
    }
}

#[tokio::test]
async fn a_body_larger_than_the_hosts_buffer_still_arrives_whole() {
    // The runner holds up to 2 MiB of a body before admitting a request and streams the rest;
    // with a higher limit, a 5 MiB body must reach the component intact.
    let app = spawn_app_with(AppOptions::default().variable("max_body_bytes", "8388608")).await;

    let answer = app
        .post_raw("/health", "application/json", vec![b' '; 5 * 1024 * 1024])
        .await;

    assert_eq!(
        answer.status, 405,
        "the body is read to its end and routing decides: {}",
        answer.text
    );
}

#[tokio::test]
async fn spins_reserved_endpoints_answer_whatever_the_routes() {
    let app = spawn_app().await;

    let health = app.get("/.well-known/spin/health").await;
    let info = app.get("/.well-known/spin/info").await;

    assert_eq!(health.status, 200);
    assert_eq!(health.text, "OK");
    assert_eq!(info.status, 200, "{}", info.text);
    assert!(
        info.body["name"]
            .as_str()
            .is_some_and(|name| name.starts_with("storefront")),
        "{}",
        info.text
    );
}
