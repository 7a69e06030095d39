use serde_json::json;
use spin_sdk::http::Method;

use super::*;
use crate::context::Shared;
use crate::{Jobs, Reply, Routes, ServiceSpec};

static SERVICE: ServiceSpec = ServiceSpec {
    service: platform::Service::Products,
    version: "9.9.9",
    schema: None,
    routes: Routes::new,
    jobs: Jobs::new,
};

fn ctx(environment: Environment) -> RequestContext {
    let variables = platform::Variables::fixed(&[("environment", environment.as_str())]);
    let shared = Shared::with_variables(&SERVICE, "req-7".into(), variables);
    RequestContext::new(shared, Method::Get, "/".into(), None)
}

fn body_json(rendered: &Rendered) -> Value {
    serde_json::from_slice(&rendered.body).expect("json body")
}

fn header<'a>(rendered: &'a Rendered, name: &str) -> Option<&'a str> {
    rendered
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn success_has_envelope_headers_and_meta() {
    let rendered = render(
        &ctx(Environment::Production),
        &Ok(Reply::created(&json!({"id": "x"}), "Made")),
    );
    assert_eq!(rendered.status, 201);
    let body = body_json(&rendered);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["id"], "x");
    assert_eq!(body["meta"]["requestId"], "req-7");
    assert_eq!(body["meta"]["service"], "product-service");
    assert!(body["meta"]["executionTime"].is_u64());
    assert!(body["meta"].get("environment").is_none());
    assert_eq!(header(&rendered, "content-type"), Some("application/json"));
    assert_eq!(header(&rendered, "x-request-id"), Some("req-7"));
    assert!(header(&rendered, "x-response-time").is_some_and(|v| v.ends_with("ms")));
    assert_eq!(header(&rendered, "x-service"), Some("product-service"));
    assert!(header(&rendered, "x-gateway").is_some_and(|v| v.starts_with("storefront-gateway/")));
}

#[test]
fn paginated_reply_carries_pagination_meta() {
    let reply = Reply::page(&[1, 2], store::Page { number: 2, size: 2 }, 5, "Listed");
    let body = body_json(&render(&ctx(Environment::Production), &Ok(reply)));
    assert_eq!(body["data"], json!([1, 2]));
    assert_eq!(body["meta"]["pagination"]["totalPages"], 3);
    assert_eq!(body["meta"]["pagination"]["hasPrev"], true);
}

#[test]
fn every_error_helper_renders_its_status_and_code() {
    let cases: Vec<(ApiError, u16, &str)> = vec![
        (ApiError::bad_request("b"), 400, "BAD_REQUEST"),
        (
            ApiError::missing_fields(&["email"]),
            400,
            "VALIDATION_ERROR",
        ),
        (ApiError::unauthorized("u"), 401, "UNAUTHORIZED"),
        (ApiError::forbidden("f"), 403, "FORBIDDEN"),
        (ApiError::not_found("n"), 404, "NOT_FOUND"),
        (
            ApiError::method_not_allowed(&["GET".into()]),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (ApiError::conflict("c"), 409, "CONFLICT"),
        (ApiError::payload_too_large(10), 413, "PAYLOAD_TOO_LARGE"),
        (
            ApiError::unsupported_media_type(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (ApiError::unprocessable("p"), 422, "UNPROCESSABLE_ENTITY"),
        (
            ApiError::insufficient_stock(json!({"available": 0})),
            409,
            "INSUFFICIENT_STOCK",
        ),
        (ApiError::too_many_requests(30), 429, "TOO_MANY_REQUESTS"),
        (ApiError::internal("boom"), 500, "INTERNAL_ERROR"),
        (
            ApiError::bad_gateway("product-service", "refused"),
            502,
            "BAD_GATEWAY",
        ),
        (
            ApiError::service_unavailable("down"),
            503,
            "SERVICE_UNAVAILABLE",
        ),
        (
            ApiError::gateway_timeout("product-service"),
            504,
            "GATEWAY_TIMEOUT",
        ),
    ];
    for (error, status, code) in cases {
        let rendered = render(&ctx(Environment::Production), &Err(error));
        assert_eq!(rendered.status, status, "{code}");
        let body = body_json(&rendered);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], code);
        assert!(body.get("data").is_none(), "{code}: failure has no data");
    }
}

#[test]
fn missing_fields_are_listed() {
    let body = body_json(&render(
        &ctx(Environment::Production),
        &Err(ApiError::missing_fields(&["email", "name"])),
    ));
    assert_eq!(
        body["error"]["details"]["missingFields"],
        json!(["email", "name"])
    );
}

#[test]
fn method_not_allowed_and_rate_limit_set_their_headers() {
    let rendered = render(
        &ctx(Environment::Production),
        &Err(ApiError::method_not_allowed(&["GET".into(), "POST".into()])),
    );
    assert_eq!(header(&rendered, "allow"), Some("GET, POST"));
    let rendered = render(
        &ctx(Environment::Production),
        &Err(ApiError::too_many_requests(17)),
    );
    assert_eq!(header(&rendered, "retry-after"), Some("17"));
}

#[test]
fn production_hides_internal_detail_of_5xx() {
    let error = ApiError::internal("SQLITE_BUSY: database is locked at users.rs:42");
    let rendered = render(&ctx(Environment::Production), &Err(error));
    let text = String::from_utf8(rendered.body.clone()).expect("utf8");
    assert!(!text.contains("SQLITE"), "{text}");
    assert!(!text.contains("users.rs"), "{text}");
    assert_eq!(
        body_json(&rendered)["message"],
        "An internal error occurred"
    );

    let gateway = ApiError::bad_gateway("user-service", "connection refused (os error 111)");
    let text =
        String::from_utf8(render(&ctx(Environment::Production), &Err(gateway)).body).expect("utf8");
    assert!(!text.contains("os error"), "{text}");
    assert!(
        text.contains("\"service\":\"user-service\""),
        "public details stay: {text}"
    );
}

#[test]
fn development_shows_cause_environment_and_version() {
    let rendered = render(
        &ctx(Environment::Development),
        &Err(ApiError::internal("disk full")),
    );
    let body = body_json(&rendered);
    assert_eq!(body["error"]["details"]["cause"], "disk full");
    assert_eq!(body["meta"]["environment"], "development");
    assert_eq!(body["meta"]["version"], "9.9.9");
}

#[test]
fn client_errors_never_carry_a_cause() {
    let error =
        ApiError::bad_request("Could not read the request body").with_cause("stream closed");
    for environment in [Environment::Production, Environment::Development] {
        let text =
            String::from_utf8(render(&ctx(environment), &Err(error.clone())).body).expect("utf8");
        assert!(!text.contains("stream closed"), "{text}");
    }
}

#[test]
fn no_content_has_an_empty_body_and_no_content_type() {
    let rendered = render(&ctx(Environment::Production), &Ok(Reply::no_content()));
    assert_eq!(rendered.status, 204);
    assert!(rendered.body.is_empty());
    assert!(header(&rendered, "content-type").is_none());
}

#[test]
fn passthrough_relays_the_body_untouched() {
    let rendered = render(
        &ctx(Environment::Production),
        &Ok(Reply::passthrough(409, br#"{"x":1}"#.to_vec())),
    );
    assert_eq!(rendered.status, 409);
    assert_eq!(rendered.body, br#"{"x":1}"#);
}

#[test]
fn environment_defaults_to_production() {
    assert_eq!(Environment::parse(None), Environment::Production);
    assert_eq!(Environment::parse(Some("staging")), Environment::Production);
    assert_eq!(
        Environment::parse(Some(" Development ")),
        Environment::Development
    );
}
