//! A stand-in for a service outside the app (a notification service on another host, a
//! webhook receiver): an HTTP server on a free port that records every request and answers
//! with the status a test chooses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

type Responder = dyn Fn(&Received) -> u16 + Send + Sync;

/// The running fake; stops when dropped.
pub struct FakeService {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeService {
    /// Starts a fake that answers each request with `respond(request)` and an envelope body.
    pub async fn start(respond: impl Fn(&Received) -> u16 + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake service cannot listen: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake service address: {e}"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, respond) = (log.clone(), respond.clone());
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (log, respond) = (log.clone(), respond.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let received = Received {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        let status = respond(&received);
                        log.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(received);
                        let envelope = serde_json::json!({
                            "success": (200..300).contains(&status),
                            "message": "fake",
                            "data": null,
                            "meta": {"requestId": "fake", "timestamp": "1970-01-01T00:00:00.000Z",
                                     "executionTime": 0, "service": "fake"}
                        });
                        let mut response =
                            hyper::Response::new(Full::new(Bytes::from(envelope.to_string())));
                        *response.status_mut() = hyper::StatusCode::from_u16(status)
                            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.task.abort();
    }
}
