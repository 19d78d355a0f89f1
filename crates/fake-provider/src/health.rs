//! A dependency-free HTTP health probe, for container `HEALTHCHECK`s without a shell or curl.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest response head read while looking for the status line.
const MAX_HEAD: usize = 8 * 1024;

/// Why a health probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("unsupported URL {0:?}: expected http://host[:port][/path]")]
    BadUrl(String),
    /// Connecting, writing or reading failed.
    #[error("request failed: {0}")]
    Io(#[from] std::io::Error),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer did not start with an HTTP status line.
    #[error("malformed response")]
    Malformed,
    /// The server answered with a status other than 200.
    #[error("status {0}")]
    Status(u16),
}

/// Sends `GET url` over plain HTTP/1.1 and succeeds if the status is 200 within `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), ProbeError> {
    let (authority, path) = split_url(url).ok_or_else(|| ProbeError::BadUrl(url.to_owned()))?;
    match tokio::time::timeout(timeout, get_status(&authority, path)).await {
        Ok(Ok(200)) => Ok(()),
        Ok(Ok(status)) => Err(ProbeError::Status(status)),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(ProbeError::Timeout(timeout)),
    }
}

/// `http://host[:port][/path]` → (`host:port`, `/path`); port 80 if absent.
fn split_url(url: &str) -> Option<(String, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    if authority.is_empty() {
        return None;
    }
    // A port is present if the text after the last ':' is digits and not inside [ipv6].
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (!host.starts_with('[') || host.ends_with(']'))
    });
    let authority = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path))
}

async fn get_status(authority: &str, path: &str) -> Result<u16, ProbeError> {
    let mut stream = TcpStream::connect(authority).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head).ok_or(ProbeError::Malformed)
}

/// The status code of `HTTP/1.x NNN ...`.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/health"),
            Some(("127.0.0.1:8080".to_owned(), "/health"))
        );
        assert_eq!(
            split_url("http://localhost"),
            Some(("localhost:80".to_owned(), "/"))
        );
        assert_eq!(
            split_url("http://[::1]/x"),
            Some(("[::1]:80".to_owned(), "/x"))
        );
        assert_eq!(
            split_url("http://[::1]:9/x"),
            Some(("[::1]:9".to_owned(), "/x"))
        );
        assert_eq!(split_url("https://example"), None);
        assert_eq!(split_url("http:///x"), None);
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // Bound but never answering: the connect succeeds (backlog), the read waits.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let result = probe(&url, Duration::from_millis(200)).await;
        assert!(matches!(result, Err(ProbeError::Timeout(_))), "{result:?}");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.1 503 Service Unavailable\r\nx: y"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0\r\n"), None);
    }
}
