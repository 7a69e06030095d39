//! One request, as handlers see it.

use std::cell::OnceCell;
use std::rc::Rc;

use platform::variables::names::{ENVIRONMENT, LOG_LEVEL};
use platform::{LogLevel, Logger, Variables};
use service_client::Caller;
use spin_sdk::http::Method;
use store::{Database, Schema, StoreError};

use crate::{ApiError, Params, Query, ServiceSpec};

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

/// A database opened at most once, on first use, by whichever step needs it first: the
/// handler, the rate limit, or the jobs after the response.
#[derive(Debug)]
pub(crate) struct DatabaseCell {
    schema: Option<&'static Schema>,
    opened: OnceCell<Result<Database, StoreError>>,
}

impl DatabaseCell {
    pub(crate) fn new(schema: Option<&'static Schema>) -> Self {
        Self {
            schema,
            opened: OnceCell::new(),
        }
    }

    pub(crate) fn get(&self) -> Result<&Database, StoreError> {
        let Some(schema) = self.schema else {
            return Err(StoreError::Sqlite {
                label: "none",
                cause: "this component has no database".into(),
            });
        };
        self.opened
            .get_or_init(|| schema.open())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether the database was opened (successfully or not).
    pub(crate) fn was_opened(&self) -> bool {
        self.opened.get().is_some()
    }
}

/// What every step of one request shares, the work after its response included.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) spec: &'static ServiceSpec,
    pub(crate) request_id: String,
    pub(crate) variables: Rc<Variables>,
    pub(crate) logger: Logger,
    pub(crate) database: Rc<DatabaseCell>,
    pub(crate) edge: Rc<DatabaseCell>,
}

impl Shared {
    pub(crate) fn new(spec: &'static ServiceSpec, request_id: String) -> Self {
        Self::with_variables(spec, request_id, Variables::from_spin())
    }

    pub(crate) fn with_variables(
        spec: &'static ServiceSpec,
        request_id: String,
        variables: Variables,
    ) -> Self {
        let variables = Rc::new(variables);
        let level = LogLevel::parse(variables.text(LOG_LEVEL).as_deref().unwrap_or_default());
        let logger = Logger::new(spec.name(), level).for_request(&request_id);
        Self {
            spec,
            request_id,
            variables,
            logger,
            database: Rc::new(DatabaseCell::new(spec.schema)),
            edge: Rc::new(DatabaseCell::new(Some(&edge::SCHEMA))),
        }
    }
}

/// One request, as handlers see it: its method, path parameters, query, headers and body
/// (raw and, for services, parsed JSON), with the service, the request id, the variables, a
/// logger, and the service's database.
#[derive(Debug)]
pub struct RequestContext {
    pub(crate) shared: Shared,
    pub(crate) environment: Environment,
    pub(crate) started_millis: i64,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) raw_query: Option<String>,
    pub(crate) query: Query,
    pub(crate) params: Params,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) json: Option<serde_json::Value>,
    /// The verified caller, once asked for (the rate limit and the handler both may).
    pub(crate) identity: OnceCell<Result<auth::Identity, ApiError>>,
    /// The service whose token this request carries, once asked for (the rate limit, the
    /// client's address and the handler may all ask).
    pub(crate) signed_caller: OnceCell<Result<Option<platform::Service>, ApiError>>,
}

impl RequestContext {
    pub(crate) fn new(shared: Shared, method: Method, path: String, query: Option<String>) -> Self {
        let environment = Environment::parse(shared.variables.text(ENVIRONMENT).as_deref());
        Self {
            shared,
            environment,
            started_millis: platform::clock::now_millis(),
            method,
            path,
            query: query.as_deref().map(Query::parse).unwrap_or_default(),
            raw_query: query,
            params: Params::default(),
            headers: Vec::new(),
            body: Vec::new(),
            json: None,
            identity: OnceCell::new(),
            signed_caller: OnceCell::new(),
        }
    }

    /// The component serving this request.
    pub fn spec(&self) -> &'static ServiceSpec {
        self.shared.spec
    }

    pub fn request_id(&self) -> &str {
        &self.shared.request_id
    }

    pub fn logger(&self) -> &Logger {
        &self.shared.logger
    }

    /// This component's Spin variables, each read once per request.
    pub fn variables(&self) -> &Variables {
        &self.shared.variables
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The service's own database, opened (and migrated) on first use, once per request.
    pub fn db(&self) -> Result<&Database, ApiError> {
        Ok(self.shared.database.get()?)
    }

    /// The `edge` database (rate-limit counters, session generations), opened on first use.
    pub fn edge_db(&self) -> Result<&Database, ApiError> {
        Ok(self.shared.edge.get()?)
    }

    /// Who calls other services on behalf of this request.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            service: self.shared.spec.service,
            request_id: &self.shared.request_id,
            variables: &self.shared.variables,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request path, as the client sent it (without the query).
    pub fn path(&self) -> &str {
        &self.path
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

    /// A request header (case-insensitive), if present and UTF-8. For the `spin-*` headers
    /// the host sets, the last value: Spin adds its own after any a client sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut matching = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        let found = if name.len() > 5 && name[..5].eq_ignore_ascii_case("spin-") {
            matching.next_back()
        } else {
            matching.next()
        };
        found.and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// Every request header, as received.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The parsed JSON body; a 400 when the route needs one and none was sent.
    pub fn json(&self) -> Result<&serde_json::Value, ApiError> {
        self.json
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("A JSON request body is required"))
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_millis(&self) -> u64 {
        u64::try_from(platform::clock::now_millis() - self.started_millis).unwrap_or(0)
    }
}
