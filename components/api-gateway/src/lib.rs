//! The API gateway: what only a component that sees every service can do.
//!
//! - `GET /health`: every service checked concurrently, each bounded by
//!   `upstream_timeout_ms`; the answer is kept in key-value for `health_cache_ms` so that
//!   probes arriving together cost one round of checks (`health`).
//! - `GET /api/openapi.json`: the OpenAPI document.
//! - `GET /api/admin/dead-letters` and `POST /api/admin/dead-letters/{id}/retry`: every
//!   producer's dead letters, for admins (`dead_letters`).
//! - Everything else: when the services are deployed as apps of their own, the request is
//!   forwarded unchanged to the service whose public path it is under, at the base URL its
//!   variable gives (`proxy`); otherwise 404. In the one-app layout Spin routes those paths
//!   straight to their services, so this component never sees them.

mod dead_letters;
mod handlers;
mod health;
mod proxy;

use http_service::{Jobs, Routes};
use platform::Service;

http_service::component!(Service::Gateway, routes, Jobs::new);

/// Every route of this component, in one table; what no route names is forwarded (in split
/// deployments) or a 404.
pub fn routes() -> Routes {
    Routes::new()
        .get("/health", health::health)
        .get("/api/openapi.json", handlers::openapi)
        .get("/api/admin/dead-letters", dead_letters::list)
        .post("/api/admin/dead-letters/:id/retry", dead_letters::retry)
        .fallback(proxy::forward)
}
