//! The user service: registration, login, token verification and profiles.
//!
//! The entry point and the route table; handlers live in `handlers`, parsing
//! in `domain`, SQL in `storage`, the schema in `schema`.

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;

use response_handler::{Routes, ServiceConfig};

/// How this component describes itself in envelopes, headers and logs.
pub static SERVICE: ServiceConfig =
    ServiceConfig::service("user-service", env!("CARGO_PKG_VERSION"));

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    Routes::new()
        .post("/register", handlers::register)
        .post("/login", handlers::login)
        .post("/token/refresh", handlers::refresh)
        .get("/users/me", handlers::me)
        .get("/users", handlers::list)
        .post("/auth/verify", handlers::verify)
        .get("/health", handlers::health)
}

response_handler::spin_entry!(crate::SERVICE, crate::routes);
