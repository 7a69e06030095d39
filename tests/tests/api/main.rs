//! End-to-end tests through the runner: one binary, one module per area.

mod envelope_rules;
mod gateway;
mod health;
mod notifications;
mod orders;
mod products;
mod runner;
mod users;
