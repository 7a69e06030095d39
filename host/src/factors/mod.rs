//! The host interfaces the runner gives components, one module each, shaped like Spin's
//! factors: each has app-wide state built once when the app loads (which databases, stores
//! and values a component declared) and per-instance state made from it, and its host
//! functions see only that state and the instance's resource table; nothing here can reach
//! the app, the router or another interface.

pub mod key_value;
pub mod outbound_http;
pub mod sqlite;
pub mod variables;

use std::marker::PhantomData;

use wasmtime::component::{HasData, ResourceTable};

/// Host bindings for the Spin 2 interfaces, generated from `host/wit`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/sqlite.connection": super::sqlite::Connection,
            "fermyon:spin/key-value.store": super::key_value::OpenStore,
        },
    });
}

/// What one interface's host functions see: the instance's resource table and that
/// interface's own state.
pub(crate) struct InterfaceView<'a, S> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) state: &'a S,
}

/// Links an interface to an [`InterfaceView`] of state `S`.
pub(crate) struct Interface<S>(PhantomData<S>);

impl<S: 'static> HasData for Interface<S> {
    type Data<'a> = InterfaceView<'a, S>;
}
