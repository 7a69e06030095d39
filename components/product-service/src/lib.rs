//! The product catalog: listing, full-text search, creation, stock and reservations.
//!
//! The entry point and the route table; handlers live in `handlers`, parsing and money
//! in `domain`, SQL in `storage`, the schema in `schema`.
//!
//! Private endpoints for the order service (not routed by the gateway; only calls with a
//! service token from `order-service` are answered, else 401). Their messages are the types of
//! `contracts::reservations`:
//! - `POST /reservations` `{orderId, items: [{productId, quantity}]}`: reserves every line or
//!   none in one transaction and answers `{orderId, status, items: [{productId, productName,
//!   quantity, unitPriceCents}]}` (201; a replay for the same order answers 200 and changes
//!   nothing). Unknown product: 404 with `details.productId`; short stock: 409
//!   `INSUFFICIENT_STOCK` with `{productId, requested, available}`; an order released before:
//!   409 `CONFLICT`.
//! - `POST /reservations/{orderId}/release`: puts the stock back once (200 `{orderId, status:
//!   "released"}`); repeating it changes nothing. Releasing an order that has no reservation
//!   leaves a tombstone, so a reservation for it that arrives later is refused.

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;

use response_handler::{Routes, ServiceConfig};

/// How this component describes itself in envelopes, headers and logs.
pub static SERVICE: ServiceConfig =
    ServiceConfig::service("product-service", env!("CARGO_PKG_VERSION"));

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    Routes::new()
        .get("/products", handlers::list)
        .post("/products", handlers::create)
        .get("/products/:id", handlers::get)
        .patch("/products/:id/stock", handlers::update_stock)
        .post("/reservations", handlers::reserve)
        .post("/reservations/:orderId/release", handlers::release)
        .get("/health", handlers::health)
}

response_handler::spin_entry!(crate::SERVICE, crate::routes);
