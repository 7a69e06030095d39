//! Rules every response follows: envelope, request id, timing, 404/405.

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

    let sane = app
        .send(
            app.client
                .get(app.url("/health"))
                .header("x-request-id", "client-id.42"),
        )
        .await;
    let unsafe_id = app
        .send(
            app.client
                .get(app.url("/health"))
                .header("x-request-id", "bad id <x>"),
        )
        .await;

    assert_eq!(sane.header("x-request-id"), Some("client-id.42"));
    let replaced = unsafe_id.header("x-request-id").expect("x-request-id");
    assert_ne!(replaced, "bad id <x>");
    assert_eq!(replaced.len(), 36, "a UUID: {replaced}");
}

#[tokio::test]
async fn unknown_path_is_a_404_envelope() {
    let app = spawn_app().await;

    let answer = app.get("/no/such/route").await;

    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["error"]["code"], "NOT_FOUND");
    assert!(answer.body.get("data").is_none());
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;

    let answer = app.send(app.client.delete(app.url("/health"))).await;

    assert_eq!(answer.status, 405);
    assert_eq!(answer.body["error"]["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(answer.header("allow"), Some("GET, OPTIONS"));
}

#[tokio::test]
async fn a_body_with_another_content_type_is_415() {
    let app = spawn_app().await;

    let answer = app
        .send(
            app.client
                .post(app.url("/health"))
                .header("content-type", "text/plain")
                .body("hi"),
        )
        .await;

    assert_eq!(answer.status, 415, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_one_at_the_limit_is_not() {
    let app = spawn_app().await;
    let limit = 1024 * 1024;

    let over = app
        .send(
            app.client
                .post(app.url("/health"))
                .header("content-type", "application/json")
                .body(vec![b' '; limit + 1]),
        )
        .await;
    let at_limit = app
        .send(
            app.client
                .post(app.url("/health"))
                .header("content-type", "application/json")
                .body(vec![b' '; limit]),
        )
        .await;

    assert_eq!(over.status, 413, "{}", over.text);
    assert_eq!(over.body["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(
        at_limit.status, 405,
        "at the limit the body is read and routing decides: {}",
        at_limit.text
    );
}

#[tokio::test]
async fn a_body_larger_than_the_hosts_buffer_still_arrives_whole() {
    // The runner holds up to 2 MiB of a body before admitting a request and streams the rest;
    // with a higher limit, a 5 MiB body must reach the component intact.
    let app = spawn_app_with(AppOptions::default().variable("max_body_bytes", "8388608")).await;

    let answer = app
        .send(
            app.client
                .post(app.url("/health"))
                .header("content-type", "application/json")
                .body(vec![b' '; 5 * 1024 * 1024]),
        )
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
    assert_eq!(info.body["name"], "storefront");
}
