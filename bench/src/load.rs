//! A closed-loop HTTP/1.1 load client: each worker keeps one connection and sends its next request
//! as soon as the previous answer is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::json;

/// Where and what to send.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    path: &'static str,
    token: Option<&'static str>,
    gateway: bool,
    /// Sessions the turns are spread over (request i goes to session i mod n); 0 = a new session
    /// per request.
    sessions: usize,
}

impl Target {
    /// The gateway's chat endpoint.
    pub fn gateway(addr: SocketAddr, token: &'static str) -> Self {
        Self {
            addr,
            path: "/v1/chat/completions",
            token: Some(token),
            gateway: true,
            sessions: 0,
        }
    }

    /// The same target with turns spread over `sessions` conversations (0 = one per request).
    pub fn with_sessions(mut self, sessions: usize) -> Self {
        self.sessions = sessions;
        self
    }

    /// The fake provider's native endpoint (the harness floor); NDJSON-streamed when the phase
    /// asks for streaming.
    pub fn ollama_direct(addr: SocketAddr) -> Self {
        Self {
            addr,
            path: "/api/chat",
            token: None,
            gateway: false,
            sessions: 0,
        }
    }

    fn body(&self, index: usize, stream: bool) -> Bytes {
        let body = if self.gateway {
            let session = if self.sessions > 0 {
                index % self.sessions
            } else {
                index
            };
            json!({ "model": "pincer/default", "user": format!("bench-{session}"), "stream": stream,
                    "messages": [{ "role": "user", "content": "Reply with a short greeting." }] })
        } else {
            json!({ "model": "fake-model", "stream": stream,
                    "messages": [{ "role": "user", "content": "Reply with a short greeting." }] })
        };
        Bytes::from(body.to_string())
    }
}

/// A phase's results.
pub struct Outcome {
    pub ok: usize,
    pub errors: usize,
    pub wall: Duration,
    pub latencies_ms: Vec<f64>,
}

impl Outcome {
    /// Percentiles (nearest rank) in milliseconds.
    pub fn summary(&self) -> serde_json::Value {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| nearest_rank(&sorted, p);
        json!({ "p50": pct(50.0), "p90": pct(90.0), "p99": pct(99.0), "max": pct(100.0) })
    }

    /// The `p`th percentile (nearest rank) in milliseconds, rounded to the microsecond.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        nearest_rank(&sorted, p)
    }

    /// Successful requests per second of wall time.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// Nearest-rank percentile of an ascending slice, rounded to 0.001 ms; 0 when empty.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let value = sorted[rank.clamp(1, sorted.len()) - 1];
    (value * 1000.0).round() / 1000.0
}

/// Sends `requests` requests with `concurrency` workers.
pub async fn run_phase(
    target: &Target,
    concurrency: usize,
    requests: usize,
    stream: bool,
) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let target = target.clone();
        let next = Arc::clone(&next);
        workers.push(tokio::spawn(async move {
            worker(target, next, requests, stream).await
        }));
    }
    let mut outcome = Outcome {
        ok: 0,
        errors: 0,
        wall: Duration::ZERO,
        latencies_ms: Vec::with_capacity(requests),
    };
    for worker in workers {
        let (ok, errors, latencies) = worker.await??;
        outcome.ok += ok;
        outcome.errors += errors;
        outcome.latencies_ms.extend(latencies);
    }
    outcome.wall = started.elapsed();
    Ok(outcome)
}

async fn worker(
    target: Target,
    next: Arc<AtomicUsize>,
    total: usize,
    stream: bool,
) -> anyhow::Result<(usize, usize, Vec<f64>)> {
    let mut sender = connect(target.addr).await?;
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= total {
            break;
        }
        let mut request = Request::post(target.path)
            .header("host", target.addr.to_string())
            .header("content-type", "application/json");
        if let Some(token) = target.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(target.body(index, stream)))?;
        let started = Instant::now();
        let result = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok((status, body)) if status.is_success() && !body.is_empty() => {
                ok += 1;
                latencies.push(elapsed);
            }
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                sender = connect(target.addr).await?;
            }
        }
    }
    Ok((ok, errors, latencies))
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
