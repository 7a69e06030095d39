//! End-to-end tests: one binary, one module per area, under the host and topology the
//! environment chose (see the harness); `runner_only` always runs on the project's runner.

mod contract;
mod deploy_manifests;
mod envelope_rules;
mod gateway;
mod health;
mod lifecycle;
mod limits;
mod notifications;
mod orders;
mod products;
mod runner;
mod runner_only;
mod storage;
mod users;
