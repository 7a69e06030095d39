//! The product catalogue: listing, full-text search, management (create, change, withdraw),
//! stock and reservations.
//!
//! The entry point, its route table and its jobs; handlers live in `handlers`, parsing and
//! money in `domain`, SQL in `storage`, the schema in `schema`.
//!
//! Private endpoints for the order service (a service token from `order-service` only, else
//! 401). Their messages are the types of `contracts::reservations`:
//! - `POST /reservations` `{orderId, items: [{productId, quantity}]}`: reserves every line or
//!   none in one transaction and answers `{orderId, status, items: [{productId, productName,
//!   quantity, unitPriceCents}]}` (201; a replay for the same order answers 200 and changes
//!   nothing). Unknown or inactive product: 404 with `details.productId`; short stock: 409
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

use http_service::{Jobs, Prune, Routes};
use platform::Service;

http_service::component!(Service::Products, schema: schema::SCHEMA, routes, jobs);

/// Every route of this component, in one table (with a producer's health and dead letters).
pub fn routes() -> Routes {
    producer::routes()
        .get("/api/products", handlers::list)
        .post("/api/products", handlers::create)
        .get("/api/products/:id", handlers::get)
        .patch("/api/products/:id", handlers::update)
        .patch("/api/products/:id/stock", handlers::update_stock)
        .post("/reservations", handlers::reserve)
        .post("/reservations/:orderId/release", handlers::release)
}

/// The work after every response: a producer's, and old release tombstones pruned.
pub fn jobs() -> Jobs {
    producer::jobs().job(Prune {
        name: "prune release tombstones",
        expiry: schema::RELEASED_RESERVATIONS,
    })
}
