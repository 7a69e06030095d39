//! The product catalog: listing, full-text search, creation, stock and reservations.
//!
//! The entry point and the route table; handlers live in `handlers`, parsing and money
//! in `domain`, SQL in `storage`, the schema in `schema`.
//!
//! Private endpoints for the order service (not routed by the gateway):
//! - `POST /reservations` `{orderId, items: [{productId, quantity}]}`: reserves every line or
//!   none in one transaction and answers `{orderId, status, items: [{productId, productName,
//!   quantity, unitPriceCents}]}` (201; a replay for the same order answers 200 and changes
//!   nothing). Unknown product: 404 with `details.productId`; short stock: 409
//!   `INSUFFICIENT_STOCK` with `{productId, requested, available}`.
//! - `POST /reservations/{orderId}/release`: puts the stock back once (200 `{orderId, status}`,
//!   `status` `released` or `unknown`); repeating it changes nothing.

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
