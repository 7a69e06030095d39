//! The HTTP side of every storefront component (the Rust counterpart of the original design's
//! `quickSetup` middleware and its `res.ok` / `res.badRequest` / ... helpers).
//!
//! A component describes itself once, in a [`ServiceSpec`]: which service it is, its
//! database, its route table ([`Routes`]) and the work it runs after its responses
//! ([`Jobs`]). [`component!`] hands every request to [`serve`], which goes through the same
//! named steps for every component (see `serve`): the request is identified and its route
//! resolved, its body read within `max_body_bytes` (413, 415, 400 in the envelope), CORS
//! preflights answered, the client counted against the rate limits, the handler called, the
//! outcome rendered into the envelope of `wit/envelope.wit` (5xx detail hidden outside
//! `development`), one JSON log line written, the response sent, and then the component's
//! due jobs run with a [`JobContext`] of their own.
//!
//! A handler sees the request through a [`RequestContext`]: method, path parameters, query,
//! headers, body and JSON, the caller's [`Identity`](auth::Identity) (token, admin list and
//! session checked), the calling service of a private endpoint, and the service's database,
//! opened once per request and shared with the jobs that follow it.

mod body;
mod client;
mod context;
mod cors;
mod error;
mod identity;
mod input;
mod jobs;
mod limits;
pub mod percent;
mod query;
mod render;
mod reply;
mod request_id;
mod routes;
mod serve;
mod spec;

pub use context::{Environment, RequestContext};
pub use envelope::{ErrorCode, Pagination};
pub use error::ApiError;
pub use input::{
    Complete, Fields, clean_text, is_invisible_or_bidi, json_integer, number_literals,
};
pub use jobs::{Job, JobContext, JobFuture, Jobs, Prune};
pub use query::{Query, page_from, query_pairs};
pub use reply::{Reply, health_reply, pagination};
pub use request_id::{REQUEST_ID_HEADER, is_sane_request_id};
pub use routes::{Params, Routes};
pub use serve::serve;
pub use spec::ServiceSpec;

/// The result of a handler.
pub type ApiResult = Result<Reply, ApiError>;

/// The `X-Gateway` header every public response carries, whichever component answers it.
pub const GATEWAY_HEADER: (&str, &str) = (
    "x-gateway",
    concat!("storefront-gateway/", env!("CARGO_PKG_VERSION")),
);

/// Declares this crate's component in one line: its `SPEC` (the service, the crate's version,
/// the database schema it owns if any, its route table and its jobs) and its Spin entry point,
/// through which every request goes to [`serve`].
///
/// ```ignore
/// http_service::component!(Service::Users, schema: schema::SCHEMA, routes, jobs);
/// http_service::component!(Service::Gateway, routes, Jobs::new);
/// ```
///
/// `#[http_component]` expands to the SDK's export glue, which is `unsafe` by nature (the
/// allowance is scoped to the generated module) and only means something in the wasm build:
/// native builds, used for unit tests, leave it out.
#[macro_export]
macro_rules! component {
    ($service:expr, schema: $schema:expr, $routes:path, $jobs:path) => {
        $crate::component!(@declare $service, Some(&$schema), $routes, $jobs);
    };
    ($service:expr, $routes:path, $jobs:path) => {
        $crate::component!(@declare $service, None, $routes, $jobs);
    };
    (@declare $service:expr, $schema:expr, $routes:path, $jobs:path) => {
        /// This component.
        pub static SPEC: $crate::ServiceSpec = $crate::ServiceSpec {
            service: $service,
            version: env!("CARGO_PKG_VERSION"),
            schema: $schema,
            routes: $routes,
            jobs: $jobs,
        };

        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod entry {
            #[spin_sdk::http_component]
            async fn handle(
                request: spin_sdk::http::IncomingRequest,
                response_out: spin_sdk::http::ResponseOutparam,
            ) {
                $crate::serve(&super::SPEC, request, response_out).await;
            }
        }
    };
}
