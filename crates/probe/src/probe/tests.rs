use super::*;
use std::net::TcpListener;
use std::thread;

fn limits() -> Limits {
    Limits {
        connect: Duration::from_secs(2),
        io: Duration::from_secs(2),
        total: Duration::from_secs(5),
    }
}

#[test]
fn status_line_ok() {
    let status = parse_status_line("HTTP/1.1 200 OK").unwrap();
    assert_eq!(
        status,
        Status {
            code: 200,
            reason: "OK".into()
        }
    );
}

#[test]
fn status_line_keeps_multi_word_reason_and_http_1_0() {
    let status = parse_status_line("HTTP/1.0 503 Service Unavailable").unwrap();
    assert_eq!(status.code, 503);
    assert_eq!(status.reason, "Service Unavailable");
}

#[test]
fn status_line_reason_is_optional() {
    assert_eq!(parse_status_line("HTTP/1.1 204").unwrap().code, 204);
    assert_eq!(parse_status_line("HTTP/1.1 204 ").unwrap().reason, "");
}

#[test]
fn status_line_rejects_garbage() {
    for line in [
        "",
        "HTTP/2 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 abc OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.x 200 OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1 600 High",
        "SSH-2.0-OpenSSH_9.2",
        "-ERR unknown protocol",
    ] {
        assert!(
            matches!(parse_status_line(line), Err(ProbeError::BadStatusLine(_))),
            "{line:?} should be rejected"
        );
    }
}

#[test]
fn url_with_port_and_path() {
    let target = Target::parse("http://127.0.0.1:8222/healthz").unwrap();
    assert_eq!(
        target,
        Target {
            protocol: Protocol::Http,
            host: "127.0.0.1".into(),
            port: 8222,
            path: "/healthz".into()
        }
    );
}

#[test]
fn url_defaults_port_and_path() {
    let target = Target::parse("http://localhost").unwrap();
    assert_eq!(
        (target.host.as_str(), target.port, target.path.as_str()),
        ("localhost", 80, "/")
    );
    let target = Target::parse("http://localhost:8222?js-enabled-only=true").unwrap();
    assert_eq!(target.path, "/?js-enabled-only=true");
}

#[test]
fn url_ipv6_literal() {
    let target = Target::parse("http://[::1]:8222/healthz?js-enabled-only=true").unwrap();
    assert_eq!(target.host, "::1");
    assert_eq!(target.port, 8222);
    assert_eq!(target.path, "/healthz?js-enabled-only=true");
    assert_eq!(target.authority(), "[::1]:8222");
}

#[test]
fn url_rejects_what_it_cannot_probe() {
    for url in [
        "https://127.0.0.1/healthz",
        "127.0.0.1:8222/healthz",
        "http://:8222/",
        "http://host:0/",
        "http://host:99999/",
        "http://host:port/",
        "http://user:pw@host/",
        "http://[::1/",
    ] {
        assert!(
            matches!(Target::parse(url), Err(ProbeError::BadUrl(_))),
            "{url:?} should be rejected"
        );
    }
}

#[test]
fn reads_status_line_split_across_reads_and_bare_lf() {
    struct Drip(Vec<&'static [u8]>);
    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(next) = self.0.first().copied() else {
                return Ok(0);
            };
            self.0.remove(0);
            buf[..next.len()].copy_from_slice(next);
            Ok(next.len())
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut drip = Drip(vec![
        b"HTTP/1.1 2",
        b"00 O",
        b"K\r\nContent-Length: 0\r\n\r\n",
    ]);
    assert_eq!(
        read_status_line(&mut drip, deadline).unwrap(),
        "HTTP/1.1 200 OK"
    );
    let mut bare = Drip(vec![b"HTTP/1.1 404 Not Found\n\n"]);
    assert_eq!(
        read_status_line(&mut bare, deadline).unwrap(),
        "HTTP/1.1 404 Not Found"
    );
    let mut cut = Drip(vec![b"HTTP/1.1 200"]);
    assert!(matches!(
        read_status_line(&mut cut, deadline),
        Err(ProbeError::Truncated)
    ));
}

/// Serves one connection with `response` and returns the request head it saw.
fn serve_once(response: &'static str) -> (u16, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut buf = [0_u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            assert_ne!(n, 0, "client closed before finishing its request");
            head.extend_from_slice(&buf[..n]);
        }
        conn.write_all(response.as_bytes()).unwrap();
        String::from_utf8(head).unwrap()
    });
    (port, handle)
}

#[test]
fn get_against_a_real_socket() {
    let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let target = Target::parse(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
    let status = get_status(&target, &limits()).unwrap();
    assert_eq!(status.code, 200);
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
}

#[test]
fn get_reports_non_2xx_status() {
    let (port, server) =
        serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    let target = Target::parse(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
    let status = get_status(&target, &limits()).unwrap();
    assert_eq!(
        status,
        Status {
            code: 503,
            reason: "Service Unavailable".into()
        }
    );
    server.join().unwrap();
}

#[test]
fn get_reports_refused_connection() {
    // Bind then drop to find a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    assert!(matches!(
        get_status(&target, &limits()),
        Err(ProbeError::Connect(_))
    ));
}

#[test]
fn grpc_urls_need_a_port_and_name_a_service_by_their_path() {
    let target = Target::parse("grpc://127.0.0.1:50051").unwrap();
    assert_eq!(target.protocol, Protocol::Grpc);
    assert_eq!((target.port, target.grpc_service()), (50051, ""));
    let target = Target::parse("grpc://[::1]:50061/grpc.health.v1.Health").unwrap();
    assert_eq!(target.authority(), "[::1]:50061");
    assert_eq!(target.grpc_service(), "grpc.health.v1.Health");
    for url in ["grpc://127.0.0.1", "grpc://127.0.0.1:1/?x=1", "grpcs://h:1"] {
        assert!(
            matches!(Target::parse(url), Err(ProbeError::BadUrl(_))),
            "{url:?} should be rejected"
        );
    }
}
