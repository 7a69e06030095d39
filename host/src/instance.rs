//! The store state of one component instance: WASI, wasi:http with Spin's outbound rules,
//! SQLite, key-value and variables, each a state of its own (see `factors`), sharing only the
//! instance's resource table.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::allowed_hosts::AllowedHosts;
use crate::engine::Admission;
use crate::factors::bindings::fermyon::spin;
use crate::factors::key_value::{KeyValueState, KeyValueStores};
use crate::factors::outbound_http::{ChainedRequests, OutboundHttp};
use crate::factors::sqlite::{SqliteDatabases, SqliteState};
use crate::factors::variables::VariablesState;
use crate::factors::{Interface, InterfaceView};
use crate::stats::HostCalls;

/// What a component declared, resolved once when the app loads; every instance of it starts
/// from these.
pub struct ComponentGrants {
    pub id: Arc<str>,
    pub sqlite: Arc<SqliteDatabases>,
    pub key_value: Arc<KeyValueStores>,
    pub variables: Arc<HashMap<String, String>>,
    pub allowed_hosts: Arc<AllowedHosts>,
}

/// Everything one component instance can reach while it serves one request.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHttp,
    sqlite: SqliteState,
    key_value: KeyValueState,
    variables: VariablesState,
}

impl RequestState {
    pub fn new(
        grants: &ComponentGrants,
        wasi: WasiCtx,
        chained: Arc<dyn ChainedRequests>,
        admission: Admission,
        calls: Arc<HostCalls>,
    ) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp {
                component: grants.id.clone(),
                allowed: grants.allowed_hosts.clone(),
                chained,
                admission,
                calls: calls.clone(),
            },
            sqlite: SqliteState {
                databases: grants.sqlite.clone(),
                calls: calls.clone(),
            },
            key_value: KeyValueState {
                stores: grants.key_value.clone(),
                calls: calls.clone(),
            },
            variables: VariablesState {
                values: grants.variables.clone(),
                calls,
            },
        }
    }

    fn sqlite(&mut self) -> InterfaceView<'_, SqliteState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.sqlite,
        }
    }

    fn key_value(&mut self) -> InterfaceView<'_, KeyValueState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.key_value,
        }
    }

    fn variables(&mut self) -> InterfaceView<'_, VariablesState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.variables,
        }
    }
}

/// The linker for every component: WASI 0.2, wasi:http, and the Spin 2 interfaces, each bound
/// to its own view of the state.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::sqlite::add_to_linker::<_, Interface<SqliteState>>(&mut linker, RequestState::sqlite)?;
    spin::key_value::add_to_linker::<_, Interface<KeyValueState>>(
        &mut linker,
        RequestState::key_value,
    )?;
    spin::variables::add_to_linker::<_, Interface<VariablesState>>(
        &mut linker,
        RequestState::variables,
    )?;
    Ok(linker)
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
