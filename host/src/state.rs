//! Per-request store state: WASI, wasi:http with Spin's outbound rules, and the Spin interfaces.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use crate::app::{Admission, AppInner, LoadedComponent};
use crate::bindings::fermyon::spin::variables;

/// Suffix of the hosts that reach another component of the same app in-process.
pub const INTERNAL_HOST_SUFFIX: &str = ".spin.internal";

/// Everything one component instance can reach while it serves one request.
pub struct RequestState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
}

impl RequestState {
    pub fn new(app: Arc<AppInner>, component: usize, wasi: WasiCtx, admission: Admission) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                app,
                component,
                admission,
            },
        }
    }

    pub fn app(&self) -> &AppInner {
        &self.hooks.app
    }

    pub fn component(&self) -> &LoadedComponent {
        self.hooks.app.component(self.hooks.component)
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
            hooks: &mut self.hooks,
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

impl variables::Host for RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self
            .component()
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}
