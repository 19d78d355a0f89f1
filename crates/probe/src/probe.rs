//! URL parsing, the GET itself and status-line parsing, kept apart from `main` so they can be tested.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The longest gRPC service name a `grpc://` URL may give (the request stays one small frame).
const MAX_GRPC_SERVICE: usize = 1024;

/// The longest response head we read while looking for the status line.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// Time limits of one probe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Per-address connect timeout.
    pub(crate) connect: Duration,
    /// Read and write timeout of each socket call.
    pub(crate) io: Duration,
    /// Bound on the whole probe, so a server that trickles bytes cannot hold it open.
    pub(crate) total: Duration,
}

/// What the probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http://`: one HTTP/1.1 GET of the path; a 2xx status passes.
    Http,
    /// `grpc://`: `grpc.health.v1.Health/Check` over cleartext HTTP/2 for the service named by the
    /// path (none: the whole server); SERVING passes.
    Grpc,
}

/// What to probe: parsed from `http://host[:port][/path]` or `grpc://host:port[/service]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) protocol: Protocol,
    /// Host as written, without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, always starting with `/`.
    pub(crate) path: String,
}

/// The parts of an HTTP status line the probe reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

#[derive(Debug)]
pub(crate) enum ProbeError {
    /// The URL is not `http://host[:port][/path]`.
    BadUrl(&'static str),
    /// The host did not resolve to any address.
    Resolve(io::Error),
    /// Every resolved address refused or timed out; the last error is kept.
    Connect(io::Error),
    /// Sending the request or reading the response failed.
    Io(io::Error),
    /// The peer closed the connection before a full status line (HTTP) or response (gRPC).
    Truncated,
    /// The first line is not `HTTP/1.x NNN reason`.
    BadStatusLine(String),
    /// The whole probe ran past its deadline.
    Deadline,
    /// The gRPC health call failed: what went wrong.
    Grpc(&'static str),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(why) => write!(
                f,
                "bad URL: {why} (expected http://HOST:PORT/PATH or grpc://HOST:PORT[/SERVICE])"
            ),
            Self::Resolve(err) => write!(f, "cannot resolve host: {err}"),
            Self::Connect(err) => write!(f, "cannot connect: {err}"),
            Self::Io(err) => write!(f, "request failed: {err}"),
            Self::Truncated => f.write_str("connection closed before a complete answer"),
            Self::BadStatusLine(line) => write!(f, "not an HTTP/1.x status line: {line:?}"),
            Self::Deadline => f.write_str("no answer before the deadline"),
            Self::Grpc(why) => f.write_str(why),
        }
    }
}

impl Target {
    /// Parses `http://host[:port][/path]` (the port defaults to 80) or `grpc://host:port[/service]`.
    /// `https` is refused: the probe only ever talks to a server in its own container.
    pub(crate) fn parse(url: &str) -> Result<Self, ProbeError> {
        let (protocol, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Protocol::Http, rest)
        } else if let Some(rest) = url.strip_prefix("grpc://") {
            (Protocol::Grpc, rest)
        } else {
            return Err(ProbeError::BadUrl("only http:// and grpc:// are supported"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = split_authority(authority)?;
        if host.is_empty() {
            return Err(ProbeError::BadUrl("empty host"));
        }
        if protocol == Protocol::Grpc {
            if port.is_none() {
                return Err(ProbeError::BadUrl("grpc:// needs a port"));
            }
            if path.contains('?') {
                return Err(ProbeError::BadUrl("grpc:// takes no query"));
            }
            if path.len() > MAX_GRPC_SERVICE {
                return Err(ProbeError::BadUrl(
                    "a gRPC service name is at most 1024 bytes",
                ));
            }
        }
        Ok(Self {
            protocol,
            host: host.to_owned(),
            port: port.unwrap_or(80),
            path,
        })
    }

    /// The gRPC service a `grpc://` target names: its path without the leading `/`.
    pub(crate) fn grpc_service(&self) -> &str {
        self.path.trim_start_matches('/')
    }

    /// The `Host` header (`:authority`) value: IPv6 literals get their brackets back.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The host and the port, if one is written.
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), ProbeError> {
    if authority.contains('@') {
        return Err(ProbeError::BadUrl(
            "credentials in the URL are not supported",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or(ProbeError::BadUrl("unclosed '[' in host"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or(ProbeError::BadUrl("junk after ']'"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(ProbeError::BadUrl("port must be 1-65535"))?,
        ),
    };
    Ok((host, port))
}

/// Parses the first line of an HTTP/1.x response, e.g. `HTTP/1.1 200 OK`.
pub(crate) fn parse_status_line(line: &str) -> Result<Status, ProbeError> {
    let bad = || ProbeError::BadStatusLine(line.chars().take(80).collect());
    let rest = line.strip_prefix("HTTP/1.").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next().ok_or_else(bad)?;
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let code = parts.next().ok_or_else(bad)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let code: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=599).contains(&code) {
        return Err(bad());
    }
    let reason = parts.next().unwrap_or("").trim().to_owned();
    Ok(Status { code, reason })
}

/// Sends one `GET` and returns the response's status; the body is never read.
pub(crate) fn get_status(target: &Target, limits: &Limits) -> Result<Status, ProbeError> {
    let deadline = Instant::now() + limits.total;
    let mut stream = connect(target, limits)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pincer-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(ProbeError::Io)?;
    let line = read_status_line(&mut stream, deadline)?;
    parse_status_line(&line)
}

/// A connection to `target` (each address tried within the connect timeout), its reads and writes
/// bounded by the I/O timeout, without Nagle's delay on the small request.
pub(crate) fn connect(target: &Target, limits: &Limits) -> Result<TcpStream, ProbeError> {
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(ProbeError::Resolve)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, limits.connect) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(limits.io))
                    .map_err(ProbeError::Io)?;
                stream
                    .set_write_timeout(Some(limits.io))
                    .map_err(ProbeError::Io)?;
                stream.set_nodelay(true).map_err(ProbeError::Io)?;
                return Ok(stream);
            }
            Err(err) => last = err,
        }
    }
    Err(ProbeError::Connect(last))
}

/// Reads until the first CRLF (or bare LF) and returns the line without it.
fn read_status_line(reader: &mut impl Read, deadline: Instant) -> Result<String, ProbeError> {
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0_u8; 512];
    loop {
        if let Some(end) = head.iter().position(|b| *b == b'\n') {
            let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
            return Ok(String::from_utf8_lossy(line).into_owned());
        }
        if head.len() > MAX_STATUS_LINE {
            return Err(ProbeError::BadStatusLine(
                String::from_utf8_lossy(&head[..80]).into_owned(),
            ));
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::Deadline);
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Err(ProbeError::Truncated),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(ProbeError::Io(err)),
        }
    }
}

#[cfg(test)]
mod tests;
