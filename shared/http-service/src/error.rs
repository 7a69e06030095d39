//! [`ApiError`]: every failure a handler can return, each mapped to its envelope code, and the
//! one place where the failures of the layers below (storage, calls to other services,
//! unusable secrets) become what a client sees.

use envelope::ErrorCode;
use platform::variables::UnusableSecret;
use serde_json::{Value, json};
use service_client::{CallError, Upstream};
use store::StoreError;

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

/// Storage failures are internal (the cause is logged, never sent); a database still locked
/// after the wait is a 503 the client may retry.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_busy() {
            ApiError::service_unavailable("The service is busy; retry shortly")
                .with_header("retry-after", "1")
                .with_cause(error)
        } else {
            ApiError::internal(error)
        }
    }
}

/// A call to another service that gave no answer to use: 504 for a timeout, 502 otherwise;
/// a caller that cannot sign its call is a deployment problem (503).
impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Timeout { service, cause } => {
                ApiError::gateway_timeout(service).with_cause(cause)
            }
            CallError::Unreachable { service, cause } | CallError::BadAnswer { service, cause } => {
                ApiError::bad_gateway(service, cause)
            }
            CallError::Credentials(error) => error.into(),
        }
    }
}

/// A secret the deployment set wrong: the service is unavailable until an operator fixes it
/// (the log names the variable; the client learns nothing of it).
impl From<UnusableSecret> for ApiError {
    fn from(error: UnusableSecret) -> Self {
        ApiError::service_unavailable("The service is not configured correctly").with_cause(error)
    }
}

impl ApiError {
    /// The error another service answered with: kept as-is for 4xx (the caller's fault, to be
    /// reported as the service reported it), `BAD_GATEWAY` for 5xx (our dependency failed).
    pub fn from_upstream(upstream: &Upstream) -> Self {
        let envelope = match upstream.envelope() {
            Ok(envelope) => envelope,
            Err(error) => return error.into(),
        };
        match envelope.error {
            Some(info) if upstream.status < 500 => {
                let mut error = ApiError::new(info.code, info.message);
                error.details = info
                    .details
                    .and_then(|text| serde_json::from_str(&text).ok());
                error
            }
            Some(info) => ApiError::bad_gateway(
                upstream.service,
                format!("{} {}", upstream.status, info.message),
            ),
            None => ApiError::bad_gateway(
                upstream.service,
                format!("status {} without error", upstream.status),
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, body: &str) -> Upstream {
        Upstream {
            service: "product-service",
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn upstream_client_errors_are_kept_and_server_errors_become_bad_gateway() {
        let body = r#"{"success":false,"message":"Nope","error":{"code":"INSUFFICIENT_STOCK","type":"T","message":"Nope","details":{"available":1}},"meta":{"requestId":"r","timestamp":"t","executionTime":0,"service":"product-service"}}"#;
        let error = ApiError::from_upstream(&upstream(409, body));
        assert_eq!(error.code, ErrorCode::InsufficientStock);
        assert_eq!(
            error.details.as_ref().map(|d| d["available"].clone()),
            Some(json!(1))
        );
        let body = body.replace("INSUFFICIENT_STOCK", "INTERNAL_ERROR");
        let error = ApiError::from_upstream(&upstream(500, &body));
        assert_eq!(error.code, ErrorCode::BadGateway);
        let error = ApiError::from_upstream(&upstream(502, "<html>"));
        assert_eq!(error.code, ErrorCode::BadGateway);
    }

    #[test]
    fn lower_layers_fail_with_the_status_a_client_can_act_on() {
        let busy: ApiError = StoreError::Busy { label: "orders" }.into();
        assert_eq!(busy.status(), 503);
        assert!(busy.headers.iter().any(|(name, _)| name == "retry-after"));
        let broken: ApiError = StoreError::Sqlite {
            label: "orders",
            cause: "disk I/O error".into(),
        }
        .into();
        assert_eq!(broken.status(), 500);
        let timeout: ApiError = CallError::Timeout {
            service: "product-service",
            cause: "slow".into(),
        }
        .into();
        assert_eq!(timeout.status(), 504);
        let secret: ApiError = UnusableSecret {
            variable: "jwt_secret",
            problem: secrets_problem().problem,
        }
        .into();
        assert_eq!(secret.status(), 503);
        assert!(
            secret
                .cause
                .as_deref()
                .is_some_and(|cause| cause.contains("jwt_secret"))
        );
        assert!(!secret.message.contains("jwt_secret"));
    }

    fn secrets_problem() -> platform::variables::UnusableSecret {
        platform::Variables::fixed(&[("jwt_secret", "short")])
            .secret(platform::variables::names::JWT_SECRET)
            .expect_err("short")
    }
}
