//! Golden tests: the JSON the Rust side emits is exactly the contract's shape.

use super::*;
use serde_json::json;

fn meta() -> Meta {
    Meta {
        request_id: "req-1".into(),
        timestamp: "2026-11-24T10:00:00.123Z".into(),
        execution_time: 3,
        service: "product-service".into(),
        environment: None,
        version: None,
        pagination: None,
    }
}

fn parsed(envelope: &Envelope) -> serde_json::Value {
    serde_json::from_str(&to_json(envelope)).expect("valid JSON")
}

#[test]
fn success_with_pagination_matches_the_contract_golden() {
    let mut meta = meta();
    meta.pagination = Some(Pagination {
        page: 1,
        limit: 20,
        total: 42,
        total_pages: 3,
        has_next: true,
        has_prev: false,
    });
    let envelope = Envelope {
        success: true,
        message: "Products retrieved successfully".into(),
        data: Some(r#"[{"id":"p1","price":19.99}]"#.into()),
        error: None,
        meta,
    };
    assert_eq!(
        parsed(&envelope),
        json!({
            "success": true,
            "message": "Products retrieved successfully",
            "data": [{"id": "p1", "price": 19.99}],
            "meta": {
                "requestId": "req-1",
                "timestamp": "2026-11-24T10:00:00.123Z",
                "executionTime": 3,
                "service": "product-service",
                "pagination": {"page": 1, "limit": 20, "total": 42, "totalPages": 3, "hasNext": true, "hasPrev": false}
            }
        })
    );
}

#[test]
fn failure_matches_the_contract_golden_and_omits_data() {
    let mut envelope = failure(
        ErrorCode::ValidationError,
        "Missing required fields",
        meta(),
    );
    if let Some(error) = envelope.error.as_mut() {
        error.details = Some(r#"{"missingFields":["email"]}"#.into());
    }
    assert_eq!(
        parsed(&envelope),
        json!({
            "success": false,
            "message": "Missing required fields",
            "error": {
                "code": "VALIDATION_ERROR",
                "type": "ValidationError",
                "message": "Missing required fields",
                "details": {"missingFields": ["email"]}
            },
            "meta": {
                "requestId": "req-1",
                "timestamp": "2026-11-24T10:00:00.123Z",
                "executionTime": 3,
                "service": "product-service"
            }
        })
    );
}

#[test]
fn success_without_data_has_explicit_null_data() {
    let envelope = Envelope {
        success: true,
        message: "Done".into(),
        data: None,
        error: None,
        meta: meta(),
    };
    let json = parsed(&envelope);
    assert_eq!(json["data"], serde_json::Value::Null);
    assert!(json.as_object().expect("object").contains_key("data"));
}

#[test]
fn optional_fields_are_omitted_never_null() {
    let text = to_json(&failure(ErrorCode::NotFound, "Nope", meta()));
    assert!(!text.contains("null"), "{text}");
    assert!(!text.contains("details"), "{text}");
    assert!(!text.contains("pagination"), "{text}");
    assert!(!text.contains("environment"), "{text}");
}

#[test]
fn development_meta_carries_environment_and_version() {
    let mut meta = meta();
    meta.environment = Some("development".into());
    meta.version = Some("0.1.0".into());
    let json = parsed(&failure(ErrorCode::InternalError, "x", meta));
    assert_eq!(json["meta"]["environment"], "development");
    assert_eq!(json["meta"]["version"], "0.1.0");
}

#[test]
fn every_code_round_trips_through_contract_json() {
    for code in ErrorCode::ALL {
        let text = to_json(&failure(code, "m", meta()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid");
        assert_eq!(json["error"]["code"], code.as_contract_str());
        let back = from_json(text.as_bytes()).expect("parses back");
        assert_eq!(back.error.expect("error").code, code);
    }
}

#[test]
fn contract_codes_are_spelled_as_the_contract_lists_them() {
    let spelled: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_contract_str()).collect();
    assert_eq!(
        spelled,
        [
            "BAD_REQUEST",
            "VALIDATION_ERROR",
            "UNAUTHORIZED",
            "FORBIDDEN",
            "NOT_FOUND",
            "METHOD_NOT_ALLOWED",
            "CONFLICT",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
            "UNPROCESSABLE_ENTITY",
            "INSUFFICIENT_STOCK",
            "TOO_MANY_REQUESTS",
            "INTERNAL_ERROR",
            "BAD_GATEWAY",
            "SERVICE_UNAVAILABLE",
            "GATEWAY_TIMEOUT",
        ]
    );
}

#[test]
fn statuses_follow_http_semantics() {
    assert_eq!(ErrorCode::ValidationError.status(), 400);
    assert_eq!(ErrorCode::InsufficientStock.status(), 409);
    assert_eq!(ErrorCode::UnprocessableEntity.status(), 422);
    assert_eq!(ErrorCode::GatewayTimeout.status(), 504);
    for code in ErrorCode::ALL {
        assert!((400..600).contains(&code.status()));
    }
}

#[test]
fn parses_an_upstream_envelope_with_embedded_data() {
    let body = br#"{"success":true,"message":"ok","data":{"id":"u1","n":[1,2]},
        "meta":{"requestId":"r","timestamp":"t","executionTime":1,"service":"user-service"}}"#;
    let envelope = from_json(body).expect("valid envelope");
    assert!(envelope.success);
    let data: serde_json::Value =
        serde_json::from_str(envelope.data.as_deref().expect("data")).expect("json text");
    assert_eq!(data["n"][1], 2);
    assert_eq!(envelope.meta.execution_time, 1);
}

#[test]
fn rejects_bodies_that_are_not_envelopes() {
    assert!(from_json(b"not json").is_err());
    assert!(from_json(br#"{"hello":"world"}"#).is_err());
}
