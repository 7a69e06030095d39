//! The API gateway: the app's only public component.
//!
//! It answers `GET /health` by checking every service concurrently, serves the OpenAPI
//! document at `GET /api/openapi.json`, rate-limits per client address and per user
//! (`limits`), and answers CORS preflights (`cors`). Requests under `/api/`
//! are routed by the table in `table` to the private services over local service chaining,
//! after the caller's token is checked against the route's access rule.

mod cors;
mod handlers;
mod limits;
mod proxy;
mod table;
mod upstreams;

use response_handler::{Routes, ServiceConfig};

/// How this component describes itself in envelopes, headers and logs.
pub static SERVICE: ServiceConfig = ServiceConfig {
    name: "api-gateway",
    version: env!("CARGO_PKG_VERSION"),
    headers: &[(
        "x-gateway",
        concat!("storefront-gateway/", env!("CARGO_PKG_VERSION")),
    )],
    identify: false,
    parse_json_bodies: false,
    before: Some(limits::enforce),
    decorate: Some(cors::decorate),
};

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    let routes = Routes::new()
        .get("/health", handlers::health)
        .get("/api/openapi.json", handlers::openapi);
    let routes = table::ROUTES.iter().fold(routes, |routes, route| {
        let route = *route;
        routes.route(route.method, route.public, move |ctx| {
            proxy::forward(route, ctx)
        })
    });
    let mut patterns: Vec<&'static str> = vec!["/health", "/api/openapi.json"];
    for route in table::ROUTES {
        if !patterns.contains(&route.public) {
            patterns.push(route.public);
        }
    }
    patterns.into_iter().fold(routes, |routes, pattern| {
        routes.route("OPTIONS", pattern, move |ctx| cors::preflight(pattern, ctx))
    })
}

response_handler::spin_entry!(crate::SERVICE, crate::routes);
