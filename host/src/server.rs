//! The HTTP/1.1 listener: accepts connections, hands each request to the app, shuts down
//! gracefully.
//!
//! A client that is slow to send cannot hold anything another client needs: its headers must
//! arrive within [`HEADER_READ_TIMEOUT`], each part of its body within [`BODY_IDLE_TIMEOUT`] of
//! the last, and a request takes one of the app's admission slots only once its body has
//! arrived (or is too large to hold, see [`PREBUFFER_LIMIT`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use envelope::ErrorCode;
use futures::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use crate::app::{AppInner, LoadOptions};
use crate::dispatch::{DRAIN_TIMEOUT, host_error};

/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may go without a new byte arriving.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies up to this size are read whole before the request takes an admission slot; the
/// rest of a larger body streams to the component after the first part.
pub const PREBUFFER_LIMIT: usize = 2 << 20;
/// Longest pause after a failed `accept` (out of file descriptors, say) before the next try.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A running app; dropping it stops the server.
pub struct RunningApp {
    addr: SocketAddr,
    app: Arc<AppInner>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningApp {
    /// Loads the app and starts listening on `listen` (port 0 picks a free port).
    pub async fn start(options: LoadOptions, listen: SocketAddr) -> Result<Self> {
        let app = tokio::task::spawn_blocking(move || AppInner::load(&options)).await??;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, app.clone(), stopped));
        Ok(Self {
            addr,
            app,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &AppInner {
        &self.app
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, task).await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, app: Arc<AppInner>, mut stopped: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (stream, client_addr) = match accepted {
            Ok(pair) => {
                backoff = Duration::ZERO;
                pair
            }
            Err(error) => {
                // Retrying at once would spin on the same error (EMFILE stays until some
                // connection closes); back off, doubling up to a second.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), ACCEPT_BACKOFF_MAX);
                eprintln!("[runner] accept failed: {error}; next try in {backoff:?}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = stopped.changed() => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                let (parts, body) = request.into_parts();
                let response = match prebuffer(with_idle_timeout(body)).await {
                    Ok(body) => {
                        let request = hyper::Request::from_parts(parts, body);
                        app.dispatch_external(request, client_addr).await
                    }
                    Err(error) => {
                        eprintln!("[runner] request body from {client_addr}: {error}");
                        let mut response = host_error(
                            ErrorCode::BadRequest,
                            "The request body could not be read in time",
                            "runner",
                        );
                        response.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                        response
                    }
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await
                && !error.is_incomplete_message()
            {
                eprintln!("[runner] connection from {client_addr}: {error}");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// A request body whose every frame must arrive within [`BODY_IDLE_TIMEOUT`] of the last.
fn with_idle_timeout(body: hyper::body::Incoming) -> WasiBody {
    let frames = futures::stream::unfold(Some(body), |body| async move {
        let mut body = body?;
        match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
            Ok(Some(Ok(frame))) => Some((Ok(frame), Some(body))),
            Ok(Some(Err(error))) => Some((Err(HttpError::from(error)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(HttpError::ConnectionReadTimeout), None)),
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// What all requests together may hold in bodies read ahead of admission. Past it, a request
/// takes its admission slot with what it has and streams the rest, so that many slow
/// uploaders cannot make the runner hold unbounded memory.
const PREBUFFER_BUDGET_KIB: usize = 256 << 10;
static PREBUFFER_BUDGET: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PREBUFFER_BUDGET_KIB);

/// Reads `body` until it ends, reaches [`PREBUFFER_LIMIT`] or finds the shared budget spent,
/// and returns a body that replays what was read and then streams the rest. A read error (a
/// stalled client's timeout) ends it.
async fn prebuffer(mut body: WasiBody) -> Result<WasiBody, HttpError> {
    let mut frames: Vec<Frame<Bytes>> = Vec::new();
    let mut held: Option<tokio::sync::SemaphorePermit<'static>> = None;
    let mut buffered = 0;
    while buffered < PREBUFFER_LIMIT {
        let Some(frame) = body.frame().await else {
            return Ok(replay(frames, held, None));
        };
        let frame = frame?;
        let length = frame.data_ref().map_or(0, Bytes::len);
        buffered += length;
        frames.push(frame);
        let kib = u32::try_from(length.div_ceil(1024)).unwrap_or(u32::MAX);
        match PREBUFFER_BUDGET.try_acquire_many(kib) {
            Ok(permit) => match held.as_mut() {
                Some(held) => held.merge(permit),
                None => held = Some(permit),
            },
            Err(_) => break,
        }
    }
    Ok(replay(frames, held, Some(body)))
}

/// `frames`, then whatever `rest` still sends; the budget `held` for the frames returns when
/// the body is dropped.
fn replay(
    frames: Vec<Frame<Bytes>>,
    held: Option<tokio::sync::SemaphorePermit<'static>>,
    rest: Option<WasiBody>,
) -> WasiBody {
    let replayed = futures::stream::iter(frames.into_iter().map(Ok));
    let rest = futures::stream::iter(rest.map(BodyStream::new)).flatten();
    let body = replayed.chain(rest).map(move |frame| {
        let _budget = &held;
        frame
    });
    StreamBody::new(body).boxed_unsync()
}
