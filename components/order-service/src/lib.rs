//! The order service: orders reserved all-or-nothing, with exact totals.
//!
//! The entry point and the route table; handlers live in `handlers`, parsing and
//! totals in `domain`, SQL in `storage`, the schema in `schema`. An order is a saga: its attempt is
//! recorded, stock is reserved through the product service's private reservation endpoint,
//! then the order is written in one transaction with its event and the end of its attempt.
//! Any failure after the reservation releases it; attempts left open by a crash are released
//! by later requests once their lease has passed (see `handlers::place_order`).

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;

use response_handler::{Routes, ServiceConfig};

/// How this component describes itself in envelopes, headers and logs.
pub static SERVICE: ServiceConfig =
    ServiceConfig::service("order-service", env!("CARGO_PKG_VERSION"));

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    Routes::new()
        .post("/orders", handlers::create)
        .get("/orders", handlers::list)
        .get("/orders/:id", handlers::get)
        .get("/health", handlers::health)
}

response_handler::spin_entry!(crate::SERVICE, crate::routes);
