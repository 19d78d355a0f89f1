//! Failures that must not take the runner down: slow calls, crashes, garbage on stdout, a missing
//! program, a server that never answers; and a clean shutdown.

use std::time::Duration;

use pincer_mcp::ServerState;
use serde_json::json;

use crate::support::{self, HttpServer, PATIENCE, http, stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_times_out_is_cancelled_and_the_server_keeps_working() {
    let running = support::start(json!({
        "s": stdio(&[], json!({"allowTools": ["*"], "timeoutSeconds": 1})),
    }));
    running.connected("s").await;
    let error = running
        .call("s__slow", json!({"ms": 30_000}))
        .await
        .expect_err("timeout");
    assert_eq!(
        error,
        "`s__slow` did not answer within 1s; the call was cancelled"
    );
    assert_eq!(
        running
            .call("s__echo", json!({"text": "still here"}))
            .await
            .as_deref(),
        Ok("still here")
    );
    pincer_test_support::eventually("the server to see the cancellation", PATIENCE, || async {
        (running.call("s__cancelled", json!({})).await.as_deref() == Ok("1")).then_some(())
    })
    .await;
    let status = running.status("s");
    assert_eq!((status.state, status.restarts), (ServerState::Connected, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_is_restarted() {
    let running = support::start(json!({
        "s": stdio(&[], json!({"allowTools": ["*"], "timeoutSeconds": 1})),
    }));
    let first = running.connected("s").await;
    for _ in 0..3 {
        let error = running
            .call("s__slow", json!({"ms": 60_000}))
            .await
            .expect_err("timeout");
        assert!(error.contains("did not answer within 1s"), "{error}");
    }
    let status =
        pincer_test_support::eventually("a new connection", PATIENCE, || {
            let status = running.status("s");
            async move {
                (status.state == ServerState::Connected && status.restarts == 1).then_some(status)
            }
        })
        .await;
    assert_ne!(status.pid, first.pid);
    assert_eq!(
        status.last_error.as_deref(),
        Some("it stopped answering calls")
    );
    assert_eq!(
        running
            .call("s__echo", json!({"text": "fresh"}))
            .await
            .as_deref(),
        Ok("fresh")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_is_reported_and_restarted() {
    let running = support::start(json!({"s": stdio(&[], json!({"allowTools": ["*"]}))}));
    let first = running.connected("s").await;
    let error = running
        .call("s__crash", json!({}))
        .await
        .expect_err("crashed");
    assert!(
        error.starts_with("mcp server `s` is not running:") && error.ends_with("; restarting"),
        "{error}"
    );
    // Until the restart, calls say the server is down (not "unknown tool").
    let error = running.call("s__echo", json!({"text": "x"})).await;
    if let Err(error) = &error {
        assert!(
            error.contains("mcp server `s` is not running") && error.contains("restarting"),
            "{error}"
        );
    }
    let echoed =
        pincer_test_support::eventually("echo to work after the restart", PATIENCE, || async {
            running.call("s__echo", json!({"text": "back"})).await.ok()
        })
        .await;
    assert_eq!(echoed, "back");
    let status = running.status("s");
    assert!(status.restarts >= 1, "{status:?}");
    assert_ne!(status.pid, first.pid, "a new process");
    let last = status.last_error.unwrap_or_default();
    assert!(last.contains("connection closed"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_stdout_does_not_break_the_session() {
    let running = support::start(json!({"s": stdio(&[], json!({"allowTools": ["*"]}))}));
    running.connected("s").await;
    assert_eq!(
        running.call("s__garbage", json!({})).await.as_deref(),
        Ok("wrote garbage")
    );
    assert_eq!(
        running
            .call("s__echo", json!({"text": "ok"}))
            .await
            .as_deref(),
        Ok("ok")
    );
    assert_eq!(
        running.call("s__garbage", json!({})).await.as_deref(),
        Ok("wrote garbage")
    );
    assert_eq!(
        running
            .call("s__add", json!({"a": 1, "b": 1}))
            .await
            .as_deref(),
        Ok("2")
    );
    assert_eq!(running.status("s").restarts, 0, "the same session survived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_retried_and_explained() {
    let running = support::start(json!({
        "gone": {"command": "/nonexistent/pincer-mcp-nothing", "allowTools": ["*"]},
    }));
    let status =
        pincer_test_support::eventually("the spawn failure to be recorded", PATIENCE, || {
            let status = running.status("gone");
            async move { (status.state == ServerState::Restarting).then_some(status) }
        })
        .await;
    let last = status.last_error.unwrap_or_default();
    assert!(
        last.contains("cannot start `/nonexistent/pincer-mcp-nothing`"),
        "{last}"
    );
    let error = running
        .call("gone__echo", json!({}))
        .await
        .expect_err("down");
    assert!(
        error.starts_with("mcp server `gone` is not running: cannot start")
            && error.ends_with("; restarting"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_start_in_the_background() {
    // `sleep` never answers: starting must not block, and calls say why they cannot run.
    let running =
        support::start(json!({"mute": {"command": "sleep", "args": ["60"], "allowTools": ["*"]}}));
    assert_eq!(running.status("mute").state, ServerState::Starting);
    assert!(running.manager.specs().is_empty());
    let error = running
        .call("mute__echo", json!({}))
        .await
        .expect_err("not yet");
    assert_eq!(
        error,
        "mcp server `mute` is not running: still starting; restarting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_servers() {
    let running = support::start(json!({"s": stdio(&[], json!({"allowTools": ["echo"]}))}));
    let pid = running.connected("s").await.pid.expect("stdio pid");
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc.exists());
    running.shutdown.cancel();
    running.manager.stopped(Duration::from_secs(15)).await;
    assert_eq!(running.status("s").state, ServerState::Stopped);
    let error = running
        .call("s__echo", json!({"text": "x"}))
        .await
        .expect_err("stopped");
    assert_eq!(error, "mcp server `s` is stopped");
    pincer_test_support::eventually("the server process to exit", PATIENCE, || {
        let gone = !proc.exists();
        async move { gone.then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_goes_away_is_reconnected_when_it_is_back() {
    // Modern servers are stateless; a legacy one forgets the session, so the client must start over.
    for legacy_only in [false, true] {
        let options = pincer_mcp_test_server::Options {
            legacy_only,
            ..Default::default()
        };
        let server = HttpServer::start("127.0.0.1:0", options).await;
        let addr = server.addr;
        let running = support::start(json!({
            "h": http(&server.url, json!({"allowTools": ["echo"], "timeoutSeconds": 2})),
        }));
        running.connected("h").await;
        server.shut().await;
        let error = running
            .call("h__echo", json!({"text": "x"}))
            .await
            .expect_err("server gone");
        assert!(error.contains("mcp server `h`"), "{error}");
        let _back = HttpServer::start(&addr.to_string(), options).await;
        let echoed = pincer_test_support::eventually(
            "echo to work against the new server",
            PATIENCE,
            || async { running.call("h__echo", json!({"text": "again"})).await.ok() },
        )
        .await;
        assert_eq!(echoed, "again", "legacy_only: {legacy_only}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_an_http_server_restarted_gets_a_new_session_and_its_answer() {
    // Restarted between two calls, a legacy server no longer knows the client's session: the
    // spec's answer is 404, the TypeScript SDK's servers answer 400 with a JSON-RPC error. Either
    // way the next call starts a new session and is answered, not left to time out (20 s here).
    for lost_session_400 in [false, true] {
        let options = pincer_mcp_test_server::Options {
            legacy_only: true,
            lost_session_400,
            ..Default::default()
        };
        let server = HttpServer::start("127.0.0.1:0", options).await;
        let addr = server.addr;
        let running = support::start(json!({
            "h": http(&server.url, json!({"allowTools": ["echo"], "timeoutSeconds": 20})),
        }));
        running.connected("h").await;
        assert_eq!(
            running.call("h__echo", json!({"text": "before"})).await,
            Ok("before".to_owned())
        );
        server.shut().await;
        let _restarted = HttpServer::start(&addr.to_string(), options).await;
        let started = std::time::Instant::now();
        let answer = running.call("h__echo", json!({"text": "after"})).await;
        assert_eq!(
            answer,
            Ok("after".to_owned()),
            "lost_session_400: {lost_session_400}, after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_servers_get_their_env_but_not_the_runners() {
    // Cargo sets this for the test process; a server has no business seeing the runner's variables.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let running = support::start(json!({
        "s": stdio(&[], json!({"allowTools": ["env"], "env": {"MCP_TEST_TOKEN": "t0k3n"}})),
    }));
    running.connected("s").await;
    let env = |name: &'static str| running.call("s__env", json!({"name": name}));
    assert_eq!(env("MCP_TEST_TOKEN").await.as_deref(), Ok("t0k3n"));
    assert_eq!(env("CARGO_MANIFEST_DIR").await.as_deref(), Ok("(unset)"));
    assert_eq!(
        env("PATH").await,
        Ok(std::env::var("PATH").unwrap_or_default())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_streamable_http() {
    use tokio::io::AsyncBufReadExt as _;

    let mut child = tokio::process::Command::new(support::binary())
        .args(["--http", "127.0.0.1:0", "--legacy-only"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the test server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let first = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the server announces its address in time")
        .expect("read stderr")
        .expect("a line");
    let url = first
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    let running =
        support::start(json!({"b": http(&url, json!({"allowTools": ["echo", "crash"]}))}));
    assert_eq!(
        running.connected("b").await.protocol_version.as_deref(),
        Some("2025-11-25")
    );
    assert_eq!(
        running
            .call("b__echo", json!({"text": "over http"}))
            .await
            .as_deref(),
        Ok("over http")
    );
    let error = running
        .call("b__crash", json!({}))
        .await
        .expect_err("the process exits");
    assert!(error.contains("mcp server `b`"), "{error}");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the process exits in time")
        .expect("wait");
    assert_eq!(status.code(), Some(pincer_mcp_test_server::CRASH_EXIT_CODE));
}
