//! Calls from one storefront service to another over Spin outbound HTTP.
//!
//! Each target's base URL comes from a Spin variable (so a service deployed on its own can be
//! pointed anywhere) and defaults to local service chaining, `http://<component>.spin.internal`.
//! Every call forwards the caller's `X-Request-ID`, is bounded by its timeout, and decodes the
//! answer as an envelope. Calls to the app's own services carry a service token (see
//! [`Credentials`]); nothing else is forwarded unless the caller passes it, so a user's bearer
//! token reaches another service only where the caller means it to (the gateway) and never a
//! host outside the app. A transport failure becomes `BAD_GATEWAY`,
//! a timeout `GATEWAY_TIMEOUT`; the transport's own words only ever reach the logs.
//!
//! The timeout is enforced here, by racing the whole call (response and body) against a
//! `wasi:clocks` timer: Spin applies `wasi:http` request options only to calls that leave the
//! process, not to `*.spin.internal` ones, so the options set on the request are a second
//! line for hosts that honour them, not the guarantee.

use std::time::Duration;

use envelope::Envelope;
use futures::SinkExt;
use response_handler::{ApiError, RequestContext, SERVICE_TOKEN_HEADER, service_keys};
use serde::de::DeserializeOwned;
use spin_sdk::http::{IncomingResponse, Method, OutgoingRequest};
use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{ErrorCode, Fields, RequestOptions, Scheme};

/// Default per-call timeout when `upstream_timeout_ms` sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `upstream_timeout_ms` variable: how long one call to another service may take.
pub fn upstream_timeout() -> Duration {
    response_handler::variable_u64("upstream_timeout_ms")
        .filter(|millis| *millis > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// What a call carries to prove who sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// A service token naming this component and the one called (the app's own services).
    Service,
    /// Nothing of ours: the call leaves the app (a webhook).
    None,
}

/// A service to call.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    /// The component id (the audience of its service tokens), used in errors
    /// (`details.service`) and logs.
    pub service: &'static str,
    pub base_url: String,
    pub timeout: Duration,
    pub credentials: Credentials,
}

/// An answer from another service.
#[derive(Debug)]
pub struct Upstream {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Upstream {
    /// The decoded envelope; a body that is not one is the upstream's fault (502).
    pub fn envelope(&self, service: &str) -> Result<Envelope, ApiError> {
        envelope::from_json(&self.body)
            .map_err(|error| ApiError::bad_gateway(service, format!("invalid envelope: {error}")))
    }

    /// The envelope's `data`, typed.
    pub fn data<T: DeserializeOwned>(&self, service: &str) -> Result<T, ApiError> {
        let envelope = self.envelope(service)?;
        let text = envelope.data.as_deref().unwrap_or("null");
        serde_json::from_str(text)
            .map_err(|error| ApiError::bad_gateway(service, format!("unexpected data: {error}")))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ServiceClient {
    /// The client for `service`, with its base URL from the Spin variable `url_variable`.
    pub fn from_variable(service: &'static str, url_variable: &str, timeout: Duration) -> Self {
        let base_url = spin_sdk::variables::get(url_variable)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| default_base_url(service));
        Self {
            service,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
            credentials: Credentials::Service,
        }
    }

    /// A host outside the app, called with no credentials of ours.
    pub fn external(name: &'static str, url: String, timeout: Duration) -> Self {
        Self {
            service: name,
            base_url: url.trim_end_matches('/').to_string(),
            timeout,
            credentials: Credentials::None,
        }
    }

    /// Sends a request and returns the raw answer, whatever its status.
    pub async fn send(
        &self,
        ctx: &RequestContext,
        method: Method,
        path_and_query: &str,
        extra_headers: &[(String, Vec<u8>)],
        body: Option<Vec<u8>>,
    ) -> Result<Upstream, ApiError> {
        let url = format!("{}{}", self.base_url, path_and_query);
        let target = Target::parse(&url).ok_or_else(|| {
            ApiError::bad_gateway(self.service, format!("invalid base URL `{url}`"))
        })?;
        let mut headers: Vec<(String, Vec<u8>)> =
            vec![("x-request-id".into(), ctx.request_id.clone().into_bytes())];
        if self.credentials == Credentials::Service {
            let token = service_keys()?
                .issue(ctx.config.name, self.service)
                .map_err(ApiError::internal)?;
            headers.push((SERVICE_TOKEN_HEADER.into(), token.into_bytes()));
        }
        if body.is_some() {
            headers.push(("content-type".into(), b"application/json".to_vec()));
        }
        for (name, value) in extra_headers {
            if !headers
                .iter()
                .any(|(existing, _)| existing.eq_ignore_ascii_case(name))
            {
                headers.push((name.clone(), value.clone()));
            }
        }
        match send_with_timeout(&target, method, &headers, body, self.timeout).await {
            Ok(upstream) => Ok(upstream),
            Err(error) if is_timeout(&error) => {
                Err(ApiError::gateway_timeout(self.service).with_cause(format!("{error:?}")))
            }
            Err(error) => Err(ApiError::bad_gateway(self.service, format!("{error:?}"))),
        }
    }

    /// Sends JSON and expects a 2xx envelope; an upstream 4xx/5xx is returned as that error.
    pub async fn call<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let body = body.map(|value| value.to_string().into_bytes());
        let upstream = self.send(ctx, method, path_and_query, &[], body).await?;
        if upstream.is_success() {
            return upstream.data(self.service);
        }
        Err(upstream_error(self.service, &upstream))
    }
}

/// The error an upstream reported, kept as-is for 4xx (they are the caller's fault) and
/// turned into `BAD_GATEWAY` for 5xx (our dependency failed).
pub fn upstream_error(service: &str, upstream: &Upstream) -> ApiError {
    let envelope = match upstream.envelope(service) {
        Ok(envelope) => envelope,
        Err(error) => return error,
    };
    match envelope.error {
        Some(info) if upstream.status < 500 => {
            let mut error = ApiError::new(info.code, info.message);
            error.details = info
                .details
                .and_then(|text| serde_json::from_str(&text).ok());
            error
        }
        Some(info) => {
            ApiError::bad_gateway(service, format!("{} {}", upstream.status, info.message))
        }
        None => ApiError::bad_gateway(service, format!("status {} without error", upstream.status)),
    }
}

/// `http://<component>.spin.internal`.
pub fn default_base_url(service: &str) -> String {
    format!("http://{service}.spin.internal")
}

fn is_timeout(error: &ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::ConnectionWriteTimeout
    )
}

/// A parsed `scheme://authority/path?query`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    https: bool,
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Option<Self> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            (true, url.strip_prefix("https://")?)
        };
        let (authority, path) = match rest.find('/') {
            Some(index) => (&rest[..index], &rest[index..]),
            None => (rest, "/"),
        };
        (!authority.is_empty()).then(|| Target {
            https,
            authority: authority.to_string(),
            path_and_query: path.to_string(),
        })
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `work`, or `None` once `timeout` has passed without it finishing. Dropping `work` then
/// drops the outgoing request, which the host cancels.
async fn within<T>(timeout: Duration, work: impl Future<Output = T>) -> Option<T> {
    let deadline = monotonic_clock::now().saturating_add(nanos(timeout));
    let mut work = std::pin::pin!(work);
    // The timer registered by the previous poll; replaced (and so cancelled) by each new one.
    let mut timer: Option<spin_executor::CancelOnDropToken> = None;
    futures::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(value) = work.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(value));
        }
        if monotonic_clock::now() >= deadline {
            return std::task::Poll::Ready(None);
        }
        let pollable = monotonic_clock::subscribe_instant(deadline);
        timer = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        std::task::Poll::Pending
    })
    .await
}

async fn send_with_timeout(
    target: &Target,
    method: Method,
    headers: &[(String, Vec<u8>)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Upstream, ErrorCode> {
    within(timeout, exchange(target, method, headers, body, timeout))
        .await
        .unwrap_or(Err(ErrorCode::HttpResponseTimeout))
}

/// One request and its whole answer.
async fn exchange(
    target: &Target,
    method: Method,
    headers: &[(String, Vec<u8>)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Upstream, ErrorCode> {
    let fields =
        Fields::from_list(headers).map_err(|_| ErrorCode::HttpRequestHeaderSectionSize(None))?;
    let request = OutgoingRequest::new(fields);
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(&target.authority));
    let _ = request.set_path_with_query(Some(&target.path_and_query));
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos(timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));
    let mut sink = request.take_body();
    let pending = outgoing_handler::handle(request, Some(options))?;
    if let Some(body) = body {
        sink.send(body)
            .await
            .map_err(|_| ErrorCode::HttpRequestBodySize(None))?;
    }
    drop(sink);
    // The pollable is a child of `pending`: it must go first if the call is abandoned (a
    // timeout), or dropping `pending` traps with "resource has children". Declared after
    // `pending`, this token is dropped before it, and it cancels the registration.
    let mut subscription: Option<spin_executor::CancelOnDropToken> = None;
    let response: IncomingResponse = futures::future::poll_fn(|cx| match pending.get() {
        Some(Ok(result)) => std::task::Poll::Ready(result),
        Some(Err(())) => std::task::Poll::Ready(Err(ErrorCode::InternalError(Some(
            "response already taken".into(),
        )))),
        None => {
            let token =
                spin_executor::push_waker_and_get_token(pending.subscribe(), cx.waker().clone());
            subscription = Some(token.into());
            std::task::Poll::Pending
        }
    })
    .await?;
    drop(subscription);
    let status = response.status();
    let headers = response.headers().entries();
    let body = response
        .into_body()
        .await
        .map_err(|_| ErrorCode::HttpResponseIncomplete)?;
    Ok(Upstream {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("http://product-service.spin.internal/products/1?x=1"),
            Some(Target {
                https: false,
                authority: "product-service.spin.internal".into(),
                path_and_query: "/products/1?x=1".into()
            })
        );
        assert!(
            Target::parse("https://a.example:8443")
                .is_some_and(|t| t.https && t.path_and_query == "/")
        );
        assert!(Target::parse("ftp://x").is_none());
        assert!(Target::parse("http:///path").is_none());
    }

    #[test]
    fn default_urls_use_service_chaining() {
        assert_eq!(
            default_base_url("user-service"),
            "http://user-service.spin.internal"
        );
    }

    #[test]
    fn timeouts_are_recognised() {
        assert!(is_timeout(&ErrorCode::HttpResponseTimeout));
        assert!(is_timeout(&ErrorCode::ConnectionTimeout));
        assert!(!is_timeout(&ErrorCode::ConnectionRefused));
        assert!(!is_timeout(&ErrorCode::HttpRequestDenied));
    }

    fn upstream(status: u16, body: &str) -> Upstream {
        Upstream {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn upstream_client_errors_are_kept_and_server_errors_become_bad_gateway() {
        let body = r#"{"success":false,"message":"Nope","error":{"code":"INSUFFICIENT_STOCK","type":"T","message":"Nope","details":{"available":1}},"meta":{"requestId":"r","timestamp":"t","executionTime":0,"service":"product-service"}}"#;
        let error = upstream_error("product-service", &upstream(409, body));
        assert_eq!(error.code, envelope::ErrorCode::InsufficientStock);
        assert_eq!(
            error.details.as_ref().map(|d| d["available"].clone()),
            Some(serde_json::json!(1))
        );
        let body = body.replace("INSUFFICIENT_STOCK", "INTERNAL_ERROR");
        let error = upstream_error("product-service", &upstream(500, &body));
        assert_eq!(error.code, envelope::ErrorCode::BadGateway);
        let error = upstream_error("product-service", &upstream(502, "<html>"));
        assert_eq!(error.code, envelope::ErrorCode::BadGateway);
    }
}
