//! The HTTP/1.1 listener: accepts connections, hands each request to the app, shuts down
//! gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{AppInner, DRAIN_TIMEOUT, LoadOptions};

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
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (stream, client_addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("[runner] accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
                Ok::<_, std::convert::Infallible>(app.dispatch_external(request, client_addr).await)
            }
        });
        let connection = http1::Builder::new()
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
