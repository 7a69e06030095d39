//! Serving one request: routing (public routes and `/.well-known/spin/`), admission, Spin's
//! request headers, a fresh component instance with its deadline, and the runner's own
//! envelope answers when the component cannot give one.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use envelope::ErrorCode;
use http_body_util::{BodyExt, Full};
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::app::AppInner;
use crate::engine::{ADMISSION_WAIT, Admission};
use crate::state::{INTERNAL_HOST_SUFFIX, RequestState};

/// Paths Spin keeps for itself on every app.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// Which route led to a component, for Spin's `spin-*` request headers.
struct RouteInfo {
    route: String,
    path_info: String,
    client_addr: SocketAddr,
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
            return host_error(ErrorCode::NotFound, "Route not found", "runner");
        };
        let info = RouteInfo {
            route: found.route.as_manifest_str(),
            path_info: found.path_info,
            client_addr,
        };
        let target = *found.target;
        let permit = tokio::time::timeout(ADMISSION_WAIT, self.admission.clone().acquire_owned());
        let Ok(Ok(admission)) = permit.await else {
            eprintln!(
                "[runner] no free request slot within {}s; answering 503",
                ADMISSION_WAIT.as_secs()
            );
            let mut busy = host_error(
                ErrorCode::ServiceUnavailable,
                "The server is busy; retry shortly",
                "runner",
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
            _ => return Some(host_error(ErrorCode::NotFound, "Route not found", "runner")),
        };
        let mut response = http::Response::new(
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Some(response)
    }

    /// Serves a request one component sent to `http://<id>.spin.internal`.
    pub async fn dispatch_internal(
        self: Arc<Self>,
        target: usize,
        request: http::Request<WasiBody>,
        admission: Admission,
    ) -> http::Response<WasiBody> {
        let info = RouteInfo {
            route: "/...".to_string(),
            path_info: request.uri().path().to_string(),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        self.dispatch(target, info, request, admission).await
    }

    async fn dispatch(
        self: Arc<Self>,
        target: usize,
        info: RouteInfo,
        mut request: http::Request<WasiBody>,
        admission: Admission,
    ) -> http::Response<WasiBody> {
        let component = &self.components[target];
        let id = component.id.clone();
        set_spin_headers(&mut request, &info, &id);
        let wasi = WasiCtx::builder()
            .stdout(OutputFile::new(clone_file(&component.stdout)))
            .stderr(OutputFile::new(clone_file(&component.stderr)))
            .build();
        let pre = component.pre.clone();
        let mut store = Store::new(
            &self.engine,
            RequestState::new(self.clone(), target, wasi, admission),
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
                return host_error(ErrorCode::BadRequest, "Malformed request", &id);
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
                host_error(ErrorCode::InternalError, "An internal error occurred", &id)
            }
            Err(_) => {
                match task.await {
                    Ok(Ok(())) => {
                        eprintln!("[runner] {task_id}: component returned without a response")
                    }
                    Ok(Err(error)) => eprintln!("[runner] {task_id}: component trapped: {error:?}"),
                    Err(error) => eprintln!("[runner] {task_id}: component task failed: {error}"),
                }
                host_error(ErrorCode::InternalError, "An internal error occurred", &id)
            }
        }
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

fn set_spin_headers(request: &mut http::Request<WasiBody>, info: &RouteInfo, component: &str) {
    let full_url = {
        let uri = request.uri();
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| format!("{component}{INTERNAL_HOST_SUFFIX}"));
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("http://{host}{path_and_query}")
    };
    let component_route = info.route.trim_end_matches("/...").to_string();
    let headers = request.headers_mut();
    // A client must not be able to forge what the runtime tells the component.
    let forged: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    let pairs = [
        ("spin-full-url", full_url),
        ("spin-path-info", info.path_info.clone()),
        ("spin-matched-route", info.route.clone()),
        ("spin-raw-component-route", info.route.clone()),
        ("spin-component-route", component_route),
        ("spin-base-path", "/".to_string()),
        ("spin-client-addr", info.client_addr.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// A runner-made response in the app's envelope shape (the component never got to answer).
pub fn host_error(code: ErrorCode, message: &str, service: &str) -> http::Response<WasiBody> {
    let now = envelope::now_millis();
    let meta = envelope::Meta {
        request_id: uuid::Uuid::new_v4().to_string(),
        timestamp: envelope::rfc3339_from_millis(now),
        execution_time: 0,
        service: service.to_string(),
        environment: None,
        version: None,
        pagination: None,
    };
    let body = envelope::to_json(&envelope::failure(code, message, meta));
    let mut response = http::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::from_u16(code.status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// How long shutdown waits for in-flight requests to be answered.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
