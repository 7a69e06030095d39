//! Per-request store state, one part per interface (as Spin's factors have): WASI, wasi:http
//! with Spin's outbound rules, SQLite, key-value and variables. Each Spin interface is linked
//! to a view of its own state and the resource table they share, and sees nothing else.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use crate::app::{AppInner, LoadedComponent};
use crate::bindings::fermyon::spin::variables;
use crate::engine::Admission;

/// Suffix of the hosts that reach another component of the same app in-process.
pub const INTERNAL_HOST_SUFFIX: &str = ".spin.internal";

/// The component an instance runs, in its app: what it declared, where its stores live.
#[derive(Clone)]
pub(crate) struct ComponentScope {
    app: Arc<AppInner>,
    component: usize,
}

impl ComponentScope {
    pub(crate) fn app(&self) -> &AppInner {
        &self.app
    }

    pub(crate) fn component(&self) -> &LoadedComponent {
        self.app.component(self.component)
    }
}

/// `fermyon:spin/sqlite`: the databases the component declared, in the app's storage layout.
pub(crate) struct SqliteState(pub(crate) ComponentScope);
/// `fermyon:spin/key-value`: the stores the component declared.
pub(crate) struct KeyValueState(pub(crate) ComponentScope);
/// `fermyon:spin/variables`: the component's resolved variables.
pub(crate) struct VariablesState(pub(crate) ComponentScope);

/// What one interface's host functions see: the instance's resource table and that
/// interface's state.
pub(crate) struct InterfaceView<'a, S> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) state: &'a S,
}

/// Links an interface to an [`InterfaceView`] of state `S`.
pub(crate) struct Interface<S>(PhantomData<S>);

impl<S: 'static> HasData for Interface<S> {
    type Data<'a> = InterfaceView<'a, S>;
}

/// Everything one component instance can reach while it serves one request.
pub struct RequestState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHooks,
    sqlite: SqliteState,
    key_value: KeyValueState,
    variables: VariablesState,
}

impl RequestState {
    pub fn new(app: Arc<AppInner>, component: usize, wasi: WasiCtx, admission: Admission) -> Self {
        let scope = ComponentScope {
            app: app.clone(),
            component,
        };
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHooks {
                app,
                component,
                admission,
            },
            sqlite: SqliteState(scope.clone()),
            key_value: KeyValueState(scope.clone()),
            variables: VariablesState(scope),
        }
    }

    pub(crate) fn sqlite(&mut self) -> InterfaceView<'_, SqliteState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.sqlite,
        }
    }

    pub(crate) fn key_value(&mut self) -> InterfaceView<'_, KeyValueState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.key_value,
        }
    }

    pub(crate) fn variables(&mut self) -> InterfaceView<'_, VariablesState> {
        InterfaceView {
            table: &mut self.table,
            state: &self.variables,
        }
    }
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

/// Outbound HTTP as Spin does it: the allow-list first, then `*.spin.internal` served
/// in-process (the only way to reach a private component), anything else over the network.
struct OutboundHooks {
    app: Arc<AppInner>,
    component: usize,
    /// The slot of the outside request this instance serves; the components it calls share it.
    admission: Admission,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let app = self.app.clone();
        let caller = self.component;
        let admission = self.admission.clone();
        Box::new(async move {
            let uri = request.uri();
            let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
            let host = uri.host().unwrap_or_default().to_ascii_lowercase();
            let port = uri.port_u16();
            let caller = app.component(caller);
            if !caller.allowed_hosts.allows(&scheme, &host, port) {
                tracing_denied(&caller.id, uri);
                return Err(HttpError::HttpRequestDenied);
            }
            let no_body_io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            if let Some(target) = host.strip_suffix(INTERNAL_HOST_SUFFIX) {
                let target = app
                    .component_index(target)
                    .ok_or(HttpError::DestinationNotFound)?;
                let first_byte = options
                    .and_then(|o| o.first_byte_timeout)
                    .unwrap_or(Duration::from_secs(600));
                let response = tokio::time::timeout(
                    first_byte,
                    app.clone().dispatch_internal(target, request, admission),
                )
                .await
                .map_err(|_| HttpError::HttpResponseTimeout)?;
                return Ok((response, no_body_io));
            }
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

fn tracing_denied(component: &str, uri: &http::Uri) {
    eprintln!(
        "[runner] component `{component}` tried to reach {uri}, which is not in its allowed_outbound_hosts"
    );
}

impl variables::Host for InterfaceView<'_, VariablesState> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self
            .state
            .0
            .component()
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}
