//! `pincer-probe grpc://…` against tonic's health server, the one the services run: exit 0 only
//! while the server reports SERVING, 1 with the reason otherwise.

use std::process::Command;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A tonic server with the health service on a loopback port; the whole server starts SERVING.
async fn health_server() -> (u16, HealthReporter) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (port, reporter)
}

/// Runs the probe off the runtime's threads; its exit status and stderr.
async fn probe(url: String) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_pincer-probe"))
            .arg(&url)
            .output()
            .expect("run pincer-probe");
        let code = output.status.code();
        assert!(matches!(code, Some(0 | 1)), "{url}: exit {code:?}");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("probe thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_server_passes_and_a_not_serving_one_fails() {
    let (port, reporter) = health_server().await;
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}")).await;
    assert!(ok, "{stderr}");

    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}")).await;
    assert!(!ok);
    assert!(stderr.contains("NOT_SERVING"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_service_is_asked_for_by_name() {
    let (port, reporter) = health_server().await;
    reporter
        .set_service_status("pincer.Turns", ServingStatus::Serving)
        .await;
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}/pincer.Turns")).await;
    assert!(ok, "{stderr}");

    // A service the server does not know ends the call with NOT_FOUND in its trailers.
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}/pincer.Unknown")).await;
    assert!(!ok);
    assert!(stderr.contains("ended without a response"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_fails_with_the_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}")).await;
    assert!(!ok);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_http2_fails() {
    // An HTTP/1.1 server answers the HTTP/2 preface with a 400 and closes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut socket, _)) = listener.accept() {
            let mut buf = [0_u8; 512];
            let _ = socket.read(&mut buf);
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        }
    });
    let (ok, stderr) = probe(format!("grpc://127.0.0.1:{port}")).await;
    assert!(!ok, "{stderr}");
}

#[test]
fn a_server_that_trickles_bytes_cannot_hold_the_probe_open() {
    // The head of a 16 KiB DATA frame, then its payload a byte every half second: each read
    // returns within the 2 s read timeout, so only the probe's own deadline (5 s in all) ends it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut socket, _)) = listener.accept() {
            if socket
                .write_all(&[0x00, 0x40, 0x00, 0, 0, 0, 0, 0, 1])
                .is_err()
            {
                return;
            }
            for _ in 0..120 {
                if socket.write_all(&[0]).is_err() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_pincer-probe"))
        .arg(format!("grpc://127.0.0.1:{port}"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pincer-probe");
    // Generous: the point is that it ends, long before the server would stop trickling (60 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the probe was still waiting on a trickling server after 40 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
}
