//! A local runner for Spin applications, built on wasmtime.
//!
//! It reads the same `spin.toml` as `spin up`, serves the app's HTTP components on a local
//! port, and provides the Spin 2 host interfaces the components import (SQLite, key-value on
//! SQLite files or Redis, variables) plus `wasi:http` outbound requests with Spin's
//! `allowed_outbound_hosts` rules and in-process service chaining through
//! `http://<component>.spin.internal`. Where a request's cost depends on the host (a SQLite
//! connection per `open`, SQLite's own lock waits), it behaves as Spin does, so what it
//! measures holds under Spin. It is the engine of the integration tests and a way to run the
//! app where the `spin` CLI is not installed; it is not a production server (that is
//! `spin up`, `spin deploy` or SpinKube).
//!
//! Modules: `cli` (the command line), `buildcmd` (`spin build`), `dev_mode` (`--dev`),
//! `manifest`, `runtime_config`, `variables`, `routing` and `allowed_hosts` (reading the
//! app), `app` (loading it), `engine` and `cache` (wasmtime), `factors` (the host interfaces,
//! each with its own state), `instance` (one instance's state), `dispatch` (serving one
//! request), `server` (the listener and its limits), `stats` (host-call counts), `split` (one app per
//! component).

pub mod allowed_hosts;
pub mod app;
pub mod buildcmd;
mod cache;
pub mod cli;
pub mod dev_mode;
pub mod dispatch;
pub mod engine;
mod factors;
mod instance;
pub mod manifest;
pub mod routing;
pub mod runtime_config;
pub mod server;
pub mod split;
pub mod stats;
pub mod variables;

pub use app::LoadOptions;
pub use server::{RunningApp, ServerLimits};
pub use stats::HostCallCounts;
pub use variables::ProvidedValues;
