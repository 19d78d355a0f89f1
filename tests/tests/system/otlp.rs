//! OTLP export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a service's spans reach a collector over
//! OTLP/gRPC. The collector here is a minimal HTTP/2 server that records the gRPC method called and
//! answers an empty `ExportTraceServiceResponse`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::convert::Infallible;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use pincer_test_support::{NatsServer, eventually, terminate, wait_http_ok, workspace_binary};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type Calls = Arc<Mutex<Vec<(String, usize)>>>;

/// Serves OTLP/gRPC calls on a loopback port, recording (path, request body bytes).
async fn fake_collector() -> (std::net::SocketAddr, Calls) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls: Calls = Arc::default();
    let recorded = Arc::clone(&calls);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let recorded = Arc::clone(&recorded);
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes().len())
                                .unwrap_or(0);
                            recorded.lock().unwrap().push((path, body));
                            // One empty protobuf message (gRPC framing: flag + length), then OK trailers.
                            let mut trailers = hyper::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            let frames = vec![
                                Ok::<_, Infallible>(Frame::data(Bytes::from_static(&[
                                    0, 0, 0, 0, 0,
                                ]))),
                                Ok(Frame::trailers(trailers)),
                            ];
                            let response = hyper::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(StreamBody::new(futures::stream::iter(frames)))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_when_an_otlp_endpoint_is_set() {
    let nats = NatsServer::start();
    let (collector, calls) = fake_collector().await;
    let dir = tempfile::tempdir().unwrap();
    let port = pincer_test_support::free_port();
    let config = dir.path().join("pincer.json5");
    std::fs::write(
        &config,
        format!(r#"{{ gateway: {{ port: {port}, auth: {{ token: "t" }} }}, agents: {{ defaults: {{ model: "ollama/m" }} }} }}"#),
    )
    .unwrap();
    let mut gateway = Command::new(workspace_binary("pincer-gateway"))
        .env("PINCER_CONFIG", &config)
        .env("PINCER_NATS_URL", nats.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/healthz"), Duration::from_secs(20)).await;

    // Each request makes an `http` span; the batch processor exports within its schedule delay.
    let exported = eventually("an OTLP trace export", Duration::from_secs(20), || {
        let calls = Arc::clone(&calls);
        let base = base.clone();
        async move {
            let _ = pincer_lifecycle::probe::http_get_ok(
                &format!("{base}/healthz"),
                Duration::from_secs(2),
            )
            .await;
            let calls = calls.lock().unwrap().clone();
            calls
                .into_iter()
                .find(|(path, bytes)| path == EXPORT_PATH && *bytes > 5)
        }
    })
    .await;
    assert!(exported.1 > 5, "the export carried spans");

    let status = terminate(&mut gateway, Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
}
