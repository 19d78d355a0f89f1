//! One `GET` of a JSON document over HTTP/1.1 (the fake's `/stats`, NATS monitoring).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::Request;

/// How long a monitoring request may take before the benchmark gives up on it.
const PATIENCE: Duration = Duration::from_secs(5);

/// `GET http://{addr}{path}`, parsed as JSON.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<serde_json::Value> {
    tokio::time::timeout(PATIENCE, fetch(addr, path))
        .await
        .map_err(|_| anyhow::anyhow!("GET {path} on {addr} took longer than {PATIENCE:?}"))?
}

async fn fetch(addr: SocketAddr, path: &str) -> anyhow::Result<serde_json::Value> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {path} on {addr}: {}",
        response.status()
    );
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}
