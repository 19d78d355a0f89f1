//! Both protocol eras: a dual-era server is spoken to with `server/discover` (2026-07-28); a
//! legacy-only one rejects it and gets `initialize` (2025-11-25), over stdio and HTTP; so does one
//! that knows `server/discover` but only legacy versions.

use pincer_mcp_test_server::Options;
use serde_json::json;

use crate::support::{self, http, stdio};

const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_modern_and_legacy() {
    let running = support::start(json!({
        "modern": stdio(&[], json!({"allowTools": ["era", "echo"]})),
        "legacy": stdio(&["--legacy-only"], json!({"allowTools": ["era", "echo"]})),
        "pinned": stdio(&["--legacy-versions"], json!({"allowTools": ["era", "echo"]})),
    }));
    for (server, version) in [("modern", MODERN), ("legacy", LEGACY), ("pinned", LEGACY)] {
        assert_speaks(&running, server, version).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_modern_and_legacy() {
    let (modern_url, stop_modern) = support::http_server(Options::default()).await;
    let (legacy_url, stop_legacy) = support::http_server(Options {
        legacy_only: true,
        ..Options::default()
    })
    .await;
    let running = support::start(json!({
        "modern": http(&modern_url, json!({"allowTools": ["era", "echo"]})),
        "legacy": http(&legacy_url, json!({"allowTools": ["era", "echo"]})),
    }));
    for (server, version) in [("modern", MODERN), ("legacy", LEGACY)] {
        assert_speaks(&running, server, version).await;
    }
    stop_modern.cancel();
    stop_legacy.cancel();
}

/// `server` connected in `version`, its calls were made in that era, and it answers.
async fn assert_speaks(running: &support::Running, server: &str, version: &str) {
    let status = running.connected(server).await;
    assert_eq!(
        status.protocol_version.as_deref(),
        Some(version),
        "{server}"
    );
    assert_eq!(
        running
            .call(&format!("{server}__era"), json!({}))
            .await
            .as_deref(),
        Ok(version),
        "{server}: the server saw calls in that era"
    );
    assert_eq!(
        running
            .call(&format!("{server}__echo"), json!({"text": server}))
            .await
            .as_deref(),
        Ok(server)
    );
}
