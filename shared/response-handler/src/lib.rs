//! The storefront's response handler: the Rust counterpart of the original design's
//! `quickSetup` middleware and its `res.ok` / `res.badRequest` / ... helpers.
//!
//! A component describes itself with a [`ServiceConfig`] and its routes with a [`Routes`]
//! table, then hands every request to [`serve`]. This crate gives each request an id, times
//! it, parses JSON bodies into the component's types with envelope errors for bad JSON, wrong
//! content types and oversized bodies, answers unknown paths (404) and wrong methods (405 with
//! `Allow`), renders every outcome into the envelope of `wit/envelope.wit`, hides internal
//! detail of 5xx errors outside `development`, and writes one JSON log line per request.
//! Work a handler defers with [`RequestContext::after_response`] runs once the response has
//! been sent, so it never adds to the client's latency.

mod context;
mod error;
mod identity;
mod input;
mod log;
pub mod percent;
mod query;
mod reply;
mod request_id;
mod routes;
mod serve;

pub use context::{Environment, RequestContext, ServiceConfig, variable_u64};
pub use envelope::{ErrorCode, Pagination};
pub use error::ApiError;
pub use identity::{Identity, Role, SERVICE_TOKEN_HEADER, service_keys, token_keys};
pub use input::{
    Complete, Fields, clean_text, is_invisible_or_bidi, json_integer, number_literals,
};
pub use log::{LogLevel, Logger};
pub use query::{PageRequest, Query, query_pairs};
pub use reply::{Reply, health_reply, pagination};
pub use request_id::{REQUEST_ID_HEADER, is_sane_request_id};
pub use routes::{Params, Routes};
pub use serve::serve;

/// The result of a handler.
pub type ApiResult = Result<Reply, ApiError>;

/// Declares a component's Spin entry point: every request goes through [`serve`] with the
/// component's `ServiceConfig` and route table. `#[http_component]` expands to the SDK's
/// export glue, which is `unsafe` by nature (the allowance is scoped to the generated module)
/// and only means something in the wasm build: native builds, used for unit tests, leave it out.
#[macro_export]
macro_rules! spin_entry {
    ($service:path, $routes:path) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod entry {
            #[spin_sdk::http_component]
            async fn handle(
                request: spin_sdk::http::IncomingRequest,
                response_out: spin_sdk::http::ResponseOutparam,
            ) {
                $crate::serve(&$service, &$routes(), request, response_out).await;
            }
        }
    };
}
