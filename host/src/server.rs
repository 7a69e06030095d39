//! The HTTP/1.1 listener: accepts connections, hands each request to the app, shuts down
//! gracefully.
//!
//! A client that is slow to send cannot hold anything another client needs: its headers must
//! arrive within [`HEADER_READ_TIMEOUT`], each part of its body within [`BODY_IDLE_TIMEOUT`] of
//! the last and the whole body within [`ServerLimits::body_timeout`], and a request takes one
//! of the app's admission slots only once its body has arrived (or is too large to hold, see
//! [`PREBUFFER_LIMIT`]). Bodies read ahead share a budget counted in bytes, and open
//! connections are capped in total and per client address. None of these limits exist in
//! Spin, which runs behind whatever proxy the deployment puts in front of it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
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
use crate::dispatch::{DRAIN_TIMEOUT, text};

/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may go without a new byte arriving.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies up to this size are read whole before the request takes an admission slot; the
/// rest of a larger body streams to the component after the first part.
pub const PREBUFFER_LIMIT: usize = 2 << 20;
/// Longest pause after a failed `accept` (out of file descriptors, say) before the next try.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The listener's own limits (flags of `storefront-runner up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a whole request body may take to arrive.
    pub body_timeout: Duration,
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_client: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_client: 256,
        }
    }
}

/// Open connections, in total and per client address; a connection counts until its
/// [`ConnectionSlot`] is dropped.
#[derive(Debug, Default)]
struct OpenConnections {
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection.
struct ConnectionSlot {
    open: Arc<OpenConnections>,
    client: IpAddr,
}

impl OpenConnections {
    /// A slot for a new connection from `client`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, client: IpAddr, limits: &ServerLimits) -> Option<ConnectionSlot> {
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let total: usize = per_client.values().sum();
        let from_client = per_client.get(&client).copied().unwrap_or(0);
        if total >= limits.max_connections || from_client >= limits.max_connections_per_client {
            return None;
        }
        *per_client.entry(client).or_default() += 1;
        Some(ConnectionSlot {
            open: self.clone(),
            client,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_client = self
            .open
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

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
        Self::start_with_limits(options, listen, ServerLimits::default()).await
    }

    /// [`RunningApp::start`] with the listener's limits set.
    pub async fn start_with_limits(
        options: LoadOptions,
        listen: SocketAddr,
        limits: ServerLimits,
    ) -> Result<Self> {
        let app = tokio::task::spawn_blocking(move || AppInner::load(&options)).await??;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, app.clone(), limits, stopped));
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

async fn serve(
    listener: TcpListener,
    app: Arc<AppInner>,
    limits: ServerLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(OpenConnections::default());
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
        let Some(slot) = open.admit(client_addr.ip(), &limits) else {
            // Closed at once: a client holding this many connections gets no more.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                let (parts, body) = request.into_parts();
                let deadline = Instant::now() + limits.body_timeout;
                let response = match prebuffer(with_timeouts(body, deadline)).await {
                    Ok(body) => {
                        let request = hyper::Request::from_parts(parts, body);
                        app.dispatch_external(request, client_addr).await
                    }
                    Err(error) => {
                        eprintln!("[runner] request body from {client_addr}: {error}");
                        let mut response = text(
                            http::StatusCode::REQUEST_TIMEOUT,
                            "The request body could not be read in time",
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
            let _slot = slot;
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

/// A request body whose every frame must arrive within [`BODY_IDLE_TIMEOUT`] of the last,
/// and all of it before `deadline`.
fn with_timeouts(body: hyper::body::Incoming, deadline: Instant) -> WasiBody {
    let frames = futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        let wait = BODY_IDLE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => Some((Ok(frame), Some(body))),
            Ok(Some(Err(error))) => Some((Err(HttpError::from(error)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(HttpError::ConnectionReadTimeout), None)),
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// Bytes all requests together may hold in bodies read ahead of admission. Past it, a request
/// takes its admission slot with what it has and streams the rest, so that many slow
/// uploaders cannot make the runner hold unbounded memory. It is charged by the byte: a
/// flood of one-byte chunks spends one byte each, not a rounded-up kilobyte.
const PREBUFFER_BUDGET_BYTES: usize = 256 << 20;
static PREBUFFER_BUDGET: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PREBUFFER_BUDGET_BYTES);

/// Reads `body` until it ends, reaches [`PREBUFFER_LIMIT`] or finds the shared budget spent,
/// and returns a body that replays what was read and then streams the rest. A read error (a
/// stalled client's timeout) ends it.
async fn prebuffer(body: WasiBody) -> Result<WasiBody, HttpError> {
    prebuffer_within(body, &PREBUFFER_BUDGET).await
}

async fn prebuffer_within(
    mut body: WasiBody,
    budget: &'static tokio::sync::Semaphore,
) -> Result<WasiBody, HttpError> {
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
        let bytes = u32::try_from(length).unwrap_or(u32::MAX);
        match budget.try_acquire_many(bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: usize, chunk: &'static [u8]) -> WasiBody {
        let frames = (0..chunks).map(move |_| Ok(Frame::data(Bytes::from_static(chunk))));
        StreamBody::new(futures::stream::iter(frames)).boxed_unsync()
    }

    async fn collect(body: WasiBody) -> Vec<u8> {
        body.collect().await.expect("body").to_bytes().to_vec()
    }

    #[tokio::test]
    async fn one_byte_chunks_are_charged_one_byte_each_until_the_body_is_dropped() {
        static BUDGET: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4096);

        let body = prebuffer_within(chunked(1000, b"x"), &BUDGET)
            .await
            .expect("prebuffered");

        assert_eq!(BUDGET.available_permits(), 4096 - 1000);
        assert_eq!(collect(body).await.len(), 1000);
        assert_eq!(BUDGET.available_permits(), 4096);
    }

    #[tokio::test]
    async fn a_spent_budget_streams_the_rest_of_the_body_in_order() {
        static BUDGET: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(10);

        let body = prebuffer_within(chunked(30, b"ab"), &BUDGET)
            .await
            .expect("prebuffered");

        assert_eq!(BUDGET.available_permits(), 0);
        assert_eq!(collect(body).await, b"ab".repeat(30));
        assert_eq!(BUDGET.available_permits(), 10);
    }
}
