//! The notification service: event intake and per-user notifications.
//!
//! The entry point and the route table; handlers live in `handlers`, what each event
//! means in `domain`, SQL in `storage`, the schema in `schema`. `POST /events` is private: it
//! answers only calls with a service token from a producer (`user-service`, `product-service`,
//! `order-service`), takes the `contracts::events::Event` they send, and is idempotent by event
//! id; a type it does not know is taken and causes nothing.

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;

use response_handler::{Routes, ServiceConfig};

/// How this component describes itself in envelopes, headers and logs.
pub static SERVICE: ServiceConfig =
    ServiceConfig::service("notification-service", env!("CARGO_PKG_VERSION"));

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    Routes::new()
        .post("/events", handlers::receive_event)
        .get("/notifications", handlers::list)
        .patch("/notifications/:id/read", handlers::mark_read)
        .get("/health", handlers::health)
}

response_handler::spin_entry!(crate::SERVICE, crate::routes);
