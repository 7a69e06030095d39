//! Serving one request: routing (public routes and `/.well-known/spin/`), admission, Spin's
//! request headers, and a fresh component instance with its deadline. Where the component
//! gives no answer, the runner answers as Spin does: a bare status with an empty body.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::app::AppInner;
use crate::engine::{ADMISSION_WAIT, Admission};
use crate::factors::outbound_http::ChainedRequests;
use crate::instance::RequestState;
use crate::stats::HostCall;

/// Paths Spin keeps for itself on every app.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// Which route led to a component, for Spin's `spin-*` request headers.
struct RouteInfo {
    route: String,
    path_info: String,
    client_addr: String,
}

impl AppInner {
    /// Serves a request that arrived from outside: public routes only.
    pub async fn dispatch_external(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        client_addr: SocketAddr,
    ) -> http::Response<WasiBody> {
        if let Some(reserved) = self.well_known(request.uri().path()) {
            return reserved;
        }
        let Some(found) = self.routes.find(request.uri().path()) else {
            return bare(http::StatusCode::NOT_FOUND);
        };
        let info = RouteInfo {
            route: found.route.as_manifest_str(),
            path_info: found.path_info,
            client_addr: client_addr.to_string(),
        };
        let target = *found.target;
        let permit = tokio::time::timeout(ADMISSION_WAIT, self.admission.clone().acquire_owned());
        let Ok(Ok(admission)) = permit.await else {
            eprintln!(
                "[runner] no free request slot within {}s; answering 503",
                ADMISSION_WAIT.as_secs()
            );
            let mut busy = text(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy; retry shortly",
            );
            busy.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            return busy;
        };
        self.dispatch(target, info, request, Arc::new(admission))
            .await
    }

    /// Spin's own endpoints under `/.well-known/spin/`, which no app route can shadow:
    /// `health` (200 `OK` once the app is loaded, for any method) and `info` (the app's name
    /// and version); anything else there is 404.
    fn well_known(&self, path: &str) -> Option<http::Response<WasiBody>> {
        let rest = path.strip_prefix(WELL_KNOWN_PREFIX)?;
        let (content_type, body) = match rest {
            "health" => ("text/plain", Bytes::from_static(b"OK")),
            "info" => {
                let info = serde_json::json!({ "name": self.name, "version": self.version });
                ("application/json", Bytes::from(info.to_string()))
            }
            _ => return Some(bare(http::StatusCode::NOT_FOUND)),
        };
        let mut response = http::Response::new(full(body));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Some(response)
    }

    async fn dispatch(
        self: Arc<Self>,
        target: usize,
        info: RouteInfo,
        mut request: http::Request<WasiBody>,
        admission: Admission,
    ) -> http::Response<WasiBody> {
        self.calls.count(HostCall::Instance);
        let component = &self.components[target];
        let id = component.id().to_string();
        set_spin_headers(&mut request, &info);
        let wasi = WasiCtx::builder()
            .stdout(OutputFile::new(clone_file(&component.stdout)))
            .stderr(OutputFile::new(clone_file(&component.stderr)))
            .build();
        let pre = component.pre.clone();
        let chained: Arc<dyn ChainedRequests> = self.clone();
        let mut store = Store::new(
            &self.engine,
            RequestState::new(
                &component.grants,
                wasi,
                chained,
                admission,
                self.calls.clone(),
            ),
        );
        let started = std::time::Instant::now();
        let limit = self.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if started.elapsed() > limit {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(sender)?)));
        let (incoming, outparam) = match prepared {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("[runner] {id}: cannot prepare request: {error:#}");
                return bare(http::StatusCode::BAD_REQUEST);
            }
        };
        // The guest may keep running after it sends its response (e.g. to deliver events),
        // so the call lives in its own task and only the response is awaited here.
        let task_id = id.clone();
        // The epoch deadline stops an instance that computes; one that waits (on a timer, a
        // call, a client) is dropped here at the same deadline, which frees its slot.
        let task = tokio::spawn(async move {
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            };
            match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_) => Err(wasmtime::Error::msg(format!(
                    "still running after the {limit:?} deadline; stopped"
                ))),
            }
        });
        match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                eprintln!("[runner] {id}: component answered with error {code:?}");
                bare(http::StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(_) => {
                match task.await {
                    Ok(Ok(())) => {
                        eprintln!("[runner] {task_id}: component returned without a response")
                    }
                    Ok(Err(error)) => eprintln!("[runner] {task_id}: component trapped: {error:?}"),
                    Err(error) => eprintln!("[runner] {task_id}: component task failed: {error}"),
                }
                bare(http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// Local service chaining: a request one component sends to `http://<id>.spin.internal`,
/// served in-process as Spin does, whatever the target's own route (private or public): the
/// whole path is its path info, and its client address is `0.0.0.0:0`.
impl ChainedRequests for AppInner {
    fn send(
        self: Arc<Self>,
        component: &str,
        request: http::Request<WasiBody>,
        admission: Admission,
    ) -> BoxFuture<'static, Option<http::Response<WasiBody>>> {
        let target = self.component_index(component);
        let app = self;
        Box::pin(async move {
            let target = target?;
            let info = RouteInfo {
                route: "/...".to_string(),
                path_info: request.uri().path().to_string(),
                client_addr: "0.0.0.0:0".to_string(),
            };
            Some(app.dispatch(target, info, request, admission).await)
        })
    }
}

fn clone_file(file: &File) -> File {
    file.try_clone().unwrap_or_else(|_| {
        // Out of descriptors: fall back to discarding output rather than failing the request.
        File::options()
            .write(true)
            .open("/dev/null")
            .unwrap_or_else(|_| panic!("cannot open /dev/null"))
    })
}

/// Adds Spin's `spin-*` headers the way Spin does: after whatever the client sent, so a
/// client-sent `spin-client-addr` is the first value and the runtime's the last (a component
/// must read the last one).
fn set_spin_headers(request: &mut http::Request<WasiBody>, info: &RouteInfo) {
    let full_url = {
        let uri = request.uri();
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_string());
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("http://{host}{path_and_query}")
    };
    let component_route = info.route.trim_end_matches("/...").to_string();
    let headers = request.headers_mut();
    let pairs = [
        ("spin-full-url", full_url),
        ("spin-path-info", info.path_info.clone()),
        ("spin-matched-route", info.route.clone()),
        ("spin-raw-component-route", info.route.clone()),
        ("spin-component-route", component_route),
        ("spin-base-path", "/".to_string()),
        ("spin-client-addr", info.client_addr.clone()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
}

fn full(body: Bytes) -> WasiBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A status with an empty body: what Spin answers when there is no route (404), or when a
/// component traps or gives no response (500).
fn bare(status: http::StatusCode) -> http::Response<WasiBody> {
    let mut response = http::Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A plain-text answer of the runner's own (limits Spin does not have).
pub fn text(status: http::StatusCode, message: &'static str) -> http::Response<WasiBody> {
    let mut response = http::Response::new(full(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}

/// How long shutdown waits for in-flight requests to be answered.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
