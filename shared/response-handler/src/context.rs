//! Per-service configuration and per-request context.

use std::cell::RefCell;

use futures::future::LocalBoxFuture;

use spin_sdk::http::Method;

use crate::log::{LogLevel, Logger};
use crate::{Params, Query};

/// Response headers as `(name, value)` pairs.
pub type HeaderList = Vec<(String, String)>;
/// A hook run before routing (see [`ServiceConfig::before`]).
pub type BeforeHook = fn(&RequestContext) -> Result<HeaderList, crate::ApiError>;
/// A hook that adds headers to every response (see [`ServiceConfig::decorate`]).
pub type DecorateHook = fn(&RequestContext, &mut HeaderList);

/// Describes a component to the handler wrapper (the original's `quickSetup` options).
#[derive(Debug)]
pub struct ServiceConfig {
    /// `meta.service` and the log's `service`.
    pub name: &'static str,
    pub version: &'static str,
    /// Added to every response (e.g. `X-Gateway`).
    pub headers: &'static [(&'static str, &'static str)],
    /// Whether every response names the service and its version (`X-Service`, `X-Version`).
    pub identify: bool,
    /// Parse JSON bodies before routing (services); the gateway relays bodies untouched.
    pub parse_json_bodies: bool,
    /// Runs before routing; an `Err` answers the request without calling a handler (the
    /// gateway's rate limit). Headers it returns are added to whatever the response is.
    pub before: Option<BeforeHook>,
    /// Adds headers to every response (the gateway's CORS headers).
    pub decorate: Option<DecorateHook>,
}

impl ServiceConfig {
    /// A service behind the gateway: parses JSON bodies and names itself in every response.
    pub const fn service(name: &'static str, version: &'static str) -> Self {
        Self {
            name,
            version,
            headers: &[],
            identify: true,
            parse_json_bodies: true,
            before: None,
            decorate: None,
        }
    }
}

/// The deployment environment, from the `environment` Spin variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// The default: no internal detail leaves the service.
    Production,
    /// `meta.environment`/`meta.version` and 5xx causes are shown.
    Development,
}

impl Environment {
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "development" => Environment::Development,
            _ => Environment::Production,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Development => "development",
        }
    }
}

/// One request, as handlers see it: its method, path parameters, query, headers and body
/// (raw and, for services, parsed JSON), with the service's configuration, the request id, a
/// logger, and work to run after the response.
pub struct RequestContext {
    pub config: &'static ServiceConfig,
    pub request_id: String,
    pub environment: Environment,
    pub logger: Logger,
    pub(crate) started_millis: i64,
    pub(crate) method: Method,
    pub(crate) raw_query: Option<String>,
    pub(crate) query: Query,
    pub(crate) params: Params,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) json: Option<serde_json::Value>,
    deferred: RefCell<Vec<LocalBoxFuture<'static, ()>>>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("service", &self.config.name)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl RequestContext {
    pub fn new(
        config: &'static ServiceConfig,
        request_id: String,
        environment: Environment,
        level: LogLevel,
    ) -> Self {
        Self {
            config,
            request_id,
            environment,
            logger: Logger::new(config.name, level),
            started_millis: envelope::now_millis(),
            method: Method::Get,
            raw_query: None,
            query: Query::default(),
            params: Params::default(),
            headers: Vec::new(),
            body: Vec::new(),
            json: None,
            deferred: RefCell::new(Vec::new()),
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// A path parameter of the route (`:id` is `param("id")`); empty if the route has none of
    /// that name.
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }

    /// The decoded query string.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The query string as sent (for relaying it), without the `?`.
    pub fn raw_query(&self) -> Option<&str> {
        self.raw_query.as_deref()
    }

    /// The request body as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A request header (case-insensitive), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// Every request header, as received.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The parsed JSON body; a 400 when the route needs one and none was sent.
    pub fn json(&self) -> Result<&serde_json::Value, crate::ApiError> {
        self.json
            .as_ref()
            .ok_or_else(|| crate::ApiError::bad_request("A JSON request body is required"))
    }

    /// Runs `work` after the response has been sent (e.g. delivering events).
    pub fn after_response(&self, work: impl Future<Output = ()> + 'static) {
        self.deferred.borrow_mut().push(Box::pin(work));
    }

    pub(crate) fn take_deferred(&self) -> Vec<LocalBoxFuture<'static, ()>> {
        std::mem::take(&mut *self.deferred.borrow_mut())
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_millis(&self) -> u64 {
        u64::try_from(envelope::now_millis() - self.started_millis).unwrap_or(0)
    }
}

/// A Spin variable of this component read as a whole number, `None` when undefined, empty or
/// not a number (a setting with a default falls back to it rather than failing requests).
pub fn variable_u64(name: &str) -> Option<u64> {
    variable(name).and_then(|value| value.trim().parse().ok())
}

/// A Spin variable of this component, `None` when undefined or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}
