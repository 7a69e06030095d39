//! Outbound `wasi:http` as Spin does it: the component's `allowed_outbound_hosts` first, then
//! `http://<component>.spin.internal` served in-process (local service chaining, the only way
//! to reach a private component, with no first-byte timeout: the caller enforces its own),
//! anything else over the network with the request's own options.

use std::sync::Arc;

use futures::future::BoxFuture;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::AllowedHosts;
use crate::engine::Admission;
use crate::stats::{HostCall, HostCalls};

/// Suffix of the hosts that reach another component of the same app in-process.
pub const INTERNAL_HOST_SUFFIX: &str = ".spin.internal";

/// Serves a request one component sends to another (`http://<id>.spin.internal`); the app
/// implements it. `None` when the app has no component with that id.
pub trait ChainedRequests: Send + Sync {
    fn send(
        self: Arc<Self>,
        component: &str,
        request: http::Request<WasiBody>,
        admission: Admission,
    ) -> BoxFuture<'static, Option<http::Response<WasiBody>>>;
}

/// One instance's outbound HTTP.
pub(crate) struct OutboundHttp {
    pub(crate) component: Arc<str>,
    pub(crate) allowed: Arc<AllowedHosts>,
    pub(crate) chained: Arc<dyn ChainedRequests>,
    /// The slot of the outside request this instance serves; the components it calls share it.
    pub(crate) admission: Admission,
    pub(crate) calls: Arc<HostCalls>,
}

type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        self.calls.count(HostCall::OutboundRequest);
        let allowed = self.allowed.clone();
        let chained = self.chained.clone();
        let admission = self.admission.clone();
        let caller = self.component.clone();
        Box::new(async move {
            let uri = request.uri();
            let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
            let host = uri.host().unwrap_or_default().to_ascii_lowercase();
            if !allowed.allows(&scheme, &host, uri.port_u16()) {
                eprintln!(
                    "[runner] component `{caller}` tried to reach {uri}, which is not in its allowed_outbound_hosts"
                );
                return Err(HttpError::HttpRequestDenied);
            }
            if let Some(target) = host.strip_suffix(INTERNAL_HOST_SUFFIX) {
                let response = chained
                    .send(target, request, admission)
                    .await
                    .ok_or(HttpError::DestinationNotFound)?;
                let no_body_io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                    Box::new(async { Ok(()) });
                return Ok((response, no_body_io));
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
