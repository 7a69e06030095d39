//! Calls from one storefront service to another over Spin outbound HTTP, from a request or
//! from work after one (a [`Caller`] says who calls, for which request; nothing here knows
//! the HTTP request being served).
//!
//! Each target's base URL comes from its Spin variable (so a service deployed on its own can
//! be pointed anywhere) and defaults to local service chaining,
//! `http://<component>.spin.internal`. Every call forwards the caller's `X-Request-ID`, is
//! bounded by its timeout, and returns the answer whole ([`Upstream`], decoded as an envelope
//! on demand). Calls to the app's own services carry a service token (see [`Credentials`]);
//! nothing else is forwarded unless the caller passes it, so a user's bearer token reaches
//! another service only where the caller means it to (the gateway) and never a host outside
//! the app. Failures are a [`CallError`]: a timeout, an unreachable service, an answer that
//! is not an envelope; the transport's own words only ever reach the logs.
//!
//! The timeout is enforced here, by racing the whole call (response and body) against a
//! `wasi:clocks` timer: Spin applies `wasi:http` request options only to calls that leave the
//! process, not to `*.spin.internal` ones, so the options set on the request are a second
//! line for hosts that honour them, not the guarantee.

use std::time::Duration;

use envelope::Envelope;
use futures::SinkExt;
use platform::variables::UnusableSecret;
use platform::variables::names::{SERVICE_TOKEN_SECRET, UPSTREAM_TIMEOUT_MS};
use platform::{Service, Variables};
use serde::de::DeserializeOwned;
use spin_sdk::http::{IncomingResponse, Method, OutgoingRequest};
use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{ErrorCode, Fields, RequestOptions, Scheme};

/// Default per-call timeout when `upstream_timeout_ms` sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header that carries a service-to-service token.
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// The `upstream_timeout_ms` variable: how long one call to another service may take.
pub fn upstream_timeout(variables: &Variables) -> Duration {
    variables
        .u64(UPSTREAM_TIMEOUT_MS)
        .filter(|millis| *millis > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// How long a chain of calls may take: one that itself waits on another service (an order on
/// its reservation, then on a release) gets three upstream timeouts and a second. The gateway
/// waits that long for a forwarded request, and an order attempt holds its lease that long.
pub fn chain_timeout(variables: &Variables) -> Duration {
    upstream_timeout(variables) * 3 + Duration::from_secs(1)
}

/// Who calls: the service (the issuer of its token), the request the call is for (its id
/// travels along for the logs), and that service's variables (the token's secret).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub service: Service,
    pub request_id: &'a str,
    pub variables: &'a Variables,
}

/// Why a call gave no answer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer within the timeout.
    Timeout {
        service: &'static str,
        cause: String,
    },
    /// No answer at all (refused, unreachable, not allowed by the manifest, a bad URL).
    Unreachable {
        service: &'static str,
        cause: String,
    },
    /// An answer that is not what the contract says (not an envelope, unexpected data).
    BadAnswer {
        service: &'static str,
        cause: String,
    },
    /// The caller cannot sign its call: its service-token secret is unusable.
    Credentials(UnusableSecret),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout { service, cause } => {
                write!(f, "{service} did not answer in time ({cause})")
            }
            CallError::Unreachable { service, cause } => {
                write!(f, "{service} unreachable: {cause}")
            }
            CallError::BadAnswer { service, cause } => {
                write!(f, "{service} answered out of contract: {cause}")
            }
            CallError::Credentials(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CallError {}

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
    /// The component id (the audience of its service tokens), or the name of an outside
    /// host, for errors and logs.
    pub service: &'static str,
    pub base_url: String,
    pub timeout: Duration,
    pub credentials: Credentials,
}

/// An answer from another service, whatever its status.
#[derive(Debug)]
pub struct Upstream {
    /// Who answered.
    pub service: &'static str,
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Upstream {
    /// The decoded envelope; a body that is not one is out of contract.
    pub fn envelope(&self) -> Result<Envelope, CallError> {
        envelope::from_json(&self.body).map_err(|error| CallError::BadAnswer {
            service: self.service,
            cause: format!("invalid envelope: {error}"),
        })
    }

    /// The envelope's `data`, typed.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, CallError> {
        let envelope = self.envelope()?;
        let text = envelope.data.as_deref().unwrap_or("null");
        serde_json::from_str(text).map_err(|error| CallError::BadAnswer {
            service: self.service,
            cause: format!("unexpected data: {error}"),
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ServiceClient {
    /// The client for one of the app's services, at the base URL its Spin variable gives.
    pub fn to(service: Service, variables: &Variables, timeout: Duration) -> Self {
        let base_url = service
            .url_variable()
            .and_then(|name| variables.text(name))
            .map(|url| url.to_string())
            .unwrap_or_else(|| default_base_url(service.id()));
        Self {
            service: service.id(),
            base_url: base_url.trim().trim_end_matches('/').to_string(),
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

    /// Sends a request and returns the answer, whatever its status.
    pub async fn send(
        &self,
        caller: Caller<'_>,
        method: Method,
        path_and_query: &str,
        extra_headers: &[(String, Vec<u8>)],
        body: Option<Vec<u8>>,
    ) -> Result<Upstream, CallError> {
        let url = format!("{}{}", self.base_url, path_and_query);
        let target = Target::parse(&url).ok_or_else(|| CallError::Unreachable {
            service: self.service,
            cause: format!("invalid base URL `{url}`"),
        })?;
        let mut headers: Vec<(String, Vec<u8>)> =
            vec![("x-request-id".into(), caller.request_id.as_bytes().to_vec())];
        if self.credentials == Credentials::Service {
            let secret = caller
                .variables
                .secret(SERVICE_TOKEN_SECRET)
                .map_err(CallError::Credentials)?;
            let token = auth::ServiceKeys::from_secret(&secret)
                .and_then(|keys| {
                    keys.issue(caller.service.id(), self.service)
                        .map_err(|_| auth::WeakSecret)
                })
                .map_err(|_| CallError::Unreachable {
                    service: self.service,
                    cause: "cannot sign the service token".into(),
                })?;
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
        let exchanged = within(
            self.timeout,
            exchange(&target, method, &headers, body, self.timeout),
        )
        .await
        .unwrap_or(Err(ErrorCode::HttpResponseTimeout));
        match exchanged {
            Ok((status, headers, body)) => Ok(Upstream {
                service: self.service,
                status,
                headers,
                body,
            }),
            Err(error) if is_timeout(&error) => Err(CallError::Timeout {
                service: self.service,
                cause: format!("{error:?}"),
            }),
            Err(error) => Err(CallError::Unreachable {
                service: self.service,
                cause: format!("{error:?}"),
            }),
        }
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

/// Status, headers and body of an answer.
type Answer = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

/// One request and its whole answer (the host's own timeouts set to `timeout` too, for hosts
/// that honour them).
async fn exchange(
    target: &Target,
    method: Method,
    headers: &[(String, Vec<u8>)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Answer, ErrorCode> {
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
    Ok((status, headers, body))
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

    #[test]
    fn an_answer_that_is_not_an_envelope_is_out_of_contract() {
        let answer = Upstream {
            service: "product-service",
            status: 502,
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert!(matches!(
            answer.envelope(),
            Err(CallError::BadAnswer {
                service: "product-service",
                ..
            })
        ));
        assert!(!answer.is_success());
    }
}
