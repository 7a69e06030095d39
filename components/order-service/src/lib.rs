//! The order service: orders reserved all-or-nothing with exact totals, and their lifecycle
//! (pending -> confirmed -> shipped -> delivered, or cancelled while pending or confirmed;
//! a pending order's hold expires after `order_hold_minutes`).
//!
//! The entry point, its route table and its jobs; handlers live in `handlers`, the saga that
//! spans the product service (placing, releasing, expiring) in `saga`, parsing and the
//! lifecycle in `domain`, SQL in `storage`, the schema in `schema`.

mod domain;
mod error;
mod handlers;
mod saga;
pub mod schema;
mod storage;

use http_service::{Jobs, Prune, Routes};
use platform::Service;

http_service::component!(Service::Orders, schema: schema::SCHEMA, routes, jobs);

/// Every route of this component, in one table (with a producer's health and dead letters).
pub fn routes() -> Routes {
    producer::routes()
        .post("/api/orders", handlers::create)
        .get("/api/orders", handlers::list)
        .get("/api/orders/:id", handlers::get)
        .post("/api/orders/:id/cancel", handlers::cancel)
        .patch("/api/orders/:id/status", handlers::move_status)
}

/// The work after every response, in order: holds that passed are cancelled (and their stock
/// given back), abandoned attempts released, events delivered (those just made included),
/// old records pruned.
pub fn jobs() -> Jobs {
    Jobs::new()
        .job(saga::ExpireHolds)
        .job(saga::ReleaseIntents)
        .job(producer::DeliverEvents)
        .job(Prune {
            name: "prune closed order attempts",
            expiry: schema::CLOSED_INTENTS,
        })
        .job(saga::ForgetOldKeys)
}
