//! Driving load: keep-alive HTTP/1.1 connections on loopback, each sending requests back to
//! back for a fixed time, and what they measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    pub async fn call(&mut self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    request("GET", path, &[], None)
}

pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
}

/// Makes the `sequence`th request of connection `worker`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// Requests over some connections.
#[derive(Clone)]
pub struct Load {
    pub connections: usize,
    pub make: MakeRequest,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub requests: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: usize,
    /// Answers 429 among the non-2xx.
    pub too_many: usize,
    pub errors: usize,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(0.001)
    }

    fn from(mut runs: Vec<ConnectionRun>, seconds: f64) -> Stats {
        let mut latencies: Vec<Duration> = runs
            .iter_mut()
            .flat_map(|run| std::mem::take(&mut run.latencies))
            .collect();
        latencies.sort();
        let percentile = |p: f64| {
            let at = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(at).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Stats {
            requests: latencies.len(),
            seconds,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            non_2xx: runs.iter().map(|run| run.non_2xx).sum(),
            too_many: runs.iter().map(|run| run.too_many).sum(),
            errors: runs.iter().map(|run| run.errors).sum(),
        }
    }
}

#[derive(Default)]
struct ConnectionRun {
    latencies: Vec<Duration>,
    non_2xx: usize,
    too_many: usize,
    errors: usize,
}

async fn drive(
    addr: SocketAddr,
    worker: usize,
    deadline: Instant,
    make: MakeRequest,
) -> ConnectionRun {
    let mut run = ConnectionRun::default();
    let Ok(mut connection) = Connection::open(addr).await else {
        run.errors += 1;
        return run;
    };
    let mut sequence = 0;
    while Instant::now() < deadline {
        let request = make(worker, sequence);
        sequence += 1;
        let sent = Instant::now();
        match connection.call(request).await {
            Ok((status, _)) => {
                run.latencies.push(sent.elapsed());
                if !(200..300).contains(&status) {
                    run.non_2xx += 1;
                }
                if status == 429 {
                    run.too_many += 1;
                }
            }
            Err(_) => {
                run.errors += 1;
                match Connection::open(addr).await {
                    Ok(fresh) => connection = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    run
}

/// Drives `measured` for `duration` while `background` (if any) runs beside it on
/// connections of its own; returns what each measured.
pub async fn run(
    addr: SocketAddr,
    duration: Duration,
    measured: &Load,
    background: Option<&Load>,
) -> (Stats, Option<Stats>) {
    let started = Instant::now();
    let deadline = started + duration;
    let spawn = |load: &Load| {
        (0..load.connections)
            .map(|worker| tokio::spawn(drive(addr, worker, deadline, load.make.clone())))
            .collect::<Vec<_>>()
    };
    let background = background.map(spawn);
    let measured = spawn(measured);
    let collect = |handles| async move {
        let runs: Vec<ConnectionRun> = futures::future::join_all(handles)
            .await
            .into_iter()
            .flatten()
            .collect();
        Stats::from(runs, started.elapsed().as_secs_f64())
    };
    let measured = collect(measured).await;
    let background = match background {
        Some(handles) => Some(collect(handles).await),
        None => None,
    };
    (measured, background)
}
