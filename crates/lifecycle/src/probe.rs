//! Self-probes for container HEALTHCHECKs: each binary's `healthcheck` subcommand calls one of these
//! against its own listener and exits 0 (healthy) or 1. Also how a failed probe of another server
//! is told (the llm-router's and the CLI's provider probes): its innermost cause, and the message
//! in an error body.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `http://host:port/path`.
    #[error("unsupported probe url {0:?} (expected http://host:port/path)")]
    Url(String),
    /// Connecting, writing or reading failed.
    #[error("probe i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// No answer within the deadline.
    #[error("probe timed out after {0:?}")]
    Timeout(Duration),
    /// The server answered, but not 2xx.
    #[error("unhealthy: {0}")]
    Unhealthy(String),
    /// The gRPC health call failed.
    #[error("grpc health check failed: {0}")]
    Grpc(String),
}

/// The innermost cause of `error` ("Connection refused", "failed to lookup address"): what a
/// person needs, without the wrappers (or a URL that may carry credentials).
pub fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut innermost = None;
    let mut source = error.source();
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    innermost
}

/// The message of an HTTP error body (`error.message`, `error`, `message`, else its first 160
/// characters), with `secret` masked should the server echo it.
pub fn error_message(body: &str, secret: Option<&str>) -> String {
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let message = parsed["error"]["message"]
        .as_str()
        .or_else(|| parsed["error"].as_str())
        .or_else(|| parsed["message"].as_str())
        .map_or_else(|| body.chars().take(160).collect(), str::to_owned);
    match secret.filter(|s| !s.is_empty()) {
        Some(secret) => message.replace(secret, "••••"),
        None => message,
    }
}

/// GETs `url` (plain HTTP/1.1) and succeeds on a 2xx status.
pub async fn http_get_ok(url: &str, timeout: Duration) -> Result<(), Error> {
    tokio::time::timeout(timeout, http_get_status(url))
        .await
        .map_err(|_| Error::Timeout(timeout))?
        .and_then(|status| {
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(Error::Unhealthy(format!("HTTP {status}")))
            }
        })
}

/// The status code of `GET url` (plain http).
pub async fn http_get_status(url: &str) -> Result<u16, Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    parse_status_line(&head)
        .ok_or_else(|| Error::Unhealthy("malformed HTTP status line".to_owned()))
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Checks `grpc.health.v1` of this container's own server, whose listen address (`host:port`) is in
/// the variable `listen_var` (default `default_listen`).
pub async fn grpc_self(listen_var: &'static str, default_listen: &str) -> Result<(), Error> {
    let listen = crate::env::string_or(listen_var, default_listen);
    let port = listen.rsplit(':').next().unwrap_or_default();
    grpc_serving(
        &format!("http://127.0.0.1:{port}"),
        "",
        Duration::from_secs(2),
    )
    .await
}

/// Calls `grpc.health.v1.Health/Check` for `service` ("" = the whole server) at `endpoint`
/// (`http://host:port`) and succeeds when it reports SERVING.
pub async fn grpc_serving(endpoint: &str, service: &str, timeout: Duration) -> Result<(), Error> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|error| Error::Grpc(error.to_string()))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|error| Error::Grpc(error.to_string()))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|status| Error::Grpc(status.message().to_owned()))?;
    let status = response.into_inner().status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(Error::Unhealthy(format!("grpc health status {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"garbage\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[tokio::test]
    async fn http_probe_reports_refused_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let result = http_get_ok(&format!("http://{addr}/healthz"), Duration::from_secs(2)).await;
        assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    }

    #[test]
    fn rejects_non_http_urls() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(http_get_ok("https://x/", Duration::from_secs(1)));
        assert!(matches!(result, Err(Error::Url(_))));
    }

    #[test]
    fn failures_are_told_by_their_cause_and_the_servers_message() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let wrapped = Error::Io(io);
        assert_eq!(
            innermost_cause(&wrapped).as_deref(),
            Some("Connection refused")
        );
        assert_eq!(innermost_cause(&Error::Url("x".into())), None);
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Incorrect key sk-123"}}"#,
                Some("sk-123")
            ),
            "Incorrect key ••••"
        );
        assert_eq!(
            error_message(r#"{"error":"unauthorized"}"#, None),
            "unauthorized"
        );
        assert_eq!(error_message("plain text", Some("")), "plain text");
    }
}
