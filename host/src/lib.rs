//! A local runner for Spin applications, built on wasmtime.
//!
//! It reads the same `spin.toml` as `spin up`, serves the app's HTTP components on a local
//! port, and provides the Spin 2 host interfaces the components import (SQLite, key-value,
//! variables) plus `wasi:http` outbound requests with Spin's `allowed_outbound_hosts` rules and
//! in-process service chaining through `http://<component>.spin.internal`. It is the engine of
//! the integration tests and a way to run the app where the `spin` CLI is not installed; it is
//! not a production server (that is `spin up`, `spin deploy` or SpinKube).

pub mod app;
pub mod buildcmd;
mod cache;
pub mod cli;
pub mod dispatch;
pub mod engine;
mod kv;
pub mod manifest;
pub mod outbound;
mod pool;
pub mod routing;
pub mod runtime_config;
pub mod server;
mod sqlite;
mod state;
pub mod variables;

pub use app::LoadOptions;
pub use server::RunningApp;
pub use variables::ProvidedValues;

/// Host bindings for the Spin 2 interfaces, generated from `host/wit`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/sqlite.connection": crate::sqlite::Connection,
            "fermyon:spin/key-value.store": crate::kv::Store,
        },
    });
}
