//! The notification service: event intake and per-user notifications.
//!
//! The entry point, its route table and its jobs; handlers live in `handlers`, what each
//! event means in `domain`, SQL in `storage`, the webhook in `webhook`, the schema in
//! `schema`. `POST /events` is for the producers only: it answers only calls with a service
//! token from the service that produces the event's type, takes the
//! `contracts::events::Event` they send, and is idempotent by event id; a type it does not
//! know is taken and causes nothing.

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;
mod webhook;

use http_service::{Jobs, Prune, Routes};
use platform::Service;

http_service::component!(Service::Notifications, schema: schema::SCHEMA, routes, jobs);

/// Every route of this component, in one table.
pub fn routes() -> Routes {
    Routes::new()
        .post("/events", handlers::receive_event)
        .get("/api/notifications", handlers::list)
        .patch("/api/notifications/:id/read", handlers::mark_read)
        .get("/health", handlers::health)
}

/// The work after every response: new notifications to the webhook, old event ids pruned.
pub fn jobs() -> Jobs {
    Jobs::new().job(webhook::SendWebhooks).job(Prune {
        name: "prune processed event ids",
        expiry: schema::PROCESSED_EVENTS,
    })
}
