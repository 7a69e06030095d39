//! Empty on purpose: this crate exists for the features its manifest turns on, so that
//! `cargo run -p storefront-runner` and `cargo test --workspace` build wasmtime the same way.
