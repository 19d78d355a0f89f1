//! Calls over stdio and HTTP: results, tool errors, protocol errors, content kinds.

use pincer_mcp_test_server::Options;
use serde_json::json;

use crate::support::{self, Running, http, stdio};

async fn exercise(running: &Running, server: &str) {
    let tool = |name: &str| format!("{server}__{name}");
    assert_eq!(
        running
            .call(&tool("echo"), json!({"text": "hello"}))
            .await
            .as_deref(),
        Ok("hello")
    );
    assert_eq!(
        running
            .call(&tool("add"), json!({"a": 2, "b": 3.5}))
            .await
            .as_deref(),
        Ok("5.5")
    );
    assert_eq!(
        running.call(&tool("fail"), json!({})).await,
        Err("the fail tool failed, as asked".to_owned()),
        "isError results come back as errors"
    );
    let error = running
        .call(&tool("echo"), json!({}))
        .await
        .expect_err("bad params");
    assert!(
        error.contains(&format!("mcp server `{server}` rejected the call"))
            && error.contains("`text`"),
        "{error}"
    );
    let error = running
        .call(&tool("nope"), json!({}))
        .await
        .expect_err("unknown");
    assert!(
        error.starts_with(&format!("unknown tool `{server}__nope`")),
        "{error}"
    );
    let error = running
        .call(&tool("echo"), json!([1]))
        .await
        .expect_err("not an object");
    assert!(error.starts_with("invalid arguments"), "{error}");
    assert_eq!(
        running.call(&tool("image"), json!({})).await.as_deref(),
        Ok("[image image/png, 8 bytes]")
    );
    assert_eq!(
        running
            .call(&tool("structured"), json!({}))
            .await
            .as_deref(),
        Ok(r#"{"answer":42}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_calls() {
    let running = support::start(json!({"local": stdio(&[], json!({"allowTools": ["*"]}))}));
    running.connected("local").await;
    exercise(&running, "local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_calls() {
    let (url, stop) = support::http_server(Options::default()).await;
    let running = support::start(json!({
        "remote": http(&url, json!({"allowTools": ["*"], "headers": {"Authorization": "Bearer test-token"}})),
    }));
    let status = running.connected("remote").await;
    assert_eq!((status.transport, status.pid), ("http", None));
    exercise(&running, "remote").await;
    stop.cancel();
}
