//! The user service: registration (admins only with the operator's bootstrap token), login
//! (throttled per account and per client address), sessions (refresh within
//! `session_max_hours`, logout ending every token), profiles and the admin's user list.
//!
//! The entry point, its route table and its jobs; handlers live in `handlers`, parsing in
//! `domain`, SQL in `storage` (login throttling in `throttle`), the schema in `schema`.
//! `POST /auth/verify` is for the app's own services (service token required): the original
//! design's token check.

mod domain;
mod error;
mod handlers;
pub mod schema;
mod storage;
mod throttle;

use http_service::{Jobs, Routes};
use platform::Service;

http_service::component!(Service::Users, schema: schema::SCHEMA, routes, jobs);

/// Every route of this component, in one table (with a producer's health and dead letters).
pub fn routes() -> Routes {
    producer::routes()
        .post("/api/users/register", handlers::register)
        .post("/api/users/login", handlers::login)
        .post("/api/users/token/refresh", handlers::refresh)
        .post("/api/users/logout", handlers::logout)
        .get("/api/users/me", handlers::me)
        .get("/api/users", handlers::list)
        .post("/auth/verify", handlers::verify)
}

/// The work after every response: a producer's, and old login failures forgotten.
pub fn jobs() -> Jobs {
    producer::jobs().job(throttle::ForgetOldFailures)
}
