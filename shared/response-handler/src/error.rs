//! [`ApiError`]: every failure a handler can return, each mapped to its envelope code.

use envelope::ErrorCode;
use serde_json::{Value, json};

/// A failure to report in the envelope.
///
/// `details` are for the client (field names, ids, limits). `cause` is internal (an SQL or
/// transport error): it is logged, and reaches the client as `details.cause` only when
/// `environment = "development"`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    pub cause: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            cause: None,
            headers: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn validation(message: impl Into<String>, details: Value) -> Self {
        Self::new(ErrorCode::ValidationError, message).with_details(details)
    }

    /// A validation error listing missing fields in `details.missingFields`.
    pub fn missing_fields(fields: &[&str]) -> Self {
        Self::validation(
            "Missing required fields",
            json!({ "missingFields": fields }),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 405 with the `Allow` header listing the methods the path does accept.
    pub fn method_not_allowed(allowed: &[String]) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, "Method not allowed")
            .with_details(json!({ "allowedMethods": allowed }))
            .with_header("allow", allowed.join(", "))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, "Request body too large")
            .with_details(json!({ "maxBytes": limit_bytes }))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/json",
        )
        .with_details(json!({ "expected": "application/json" }))
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnprocessableEntity, message)
    }

    pub fn insufficient_stock(details: Value) -> Self {
        Self::new(ErrorCode::InsufficientStock, "Insufficient stock").with_details(details)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(ErrorCode::TooManyRequests, "Too many requests")
            .with_details(json!({ "retryAfter": retry_after_secs }))
            .with_header("retry-after", retry_after_secs.to_string())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InternalError, "An internal error occurred").with_cause(cause)
    }

    pub fn bad_gateway(service: &str, cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::BadGateway, format!("{service} unavailable"))
            .with_details(json!({ "service": service }))
            .with_cause(cause)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    pub fn gateway_timeout(service: &str) -> Self {
        Self::new(
            ErrorCode::GatewayTimeout,
            format!("{service} did not answer in time"),
        )
        .with_details(json!({ "service": service }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_contract_str(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
