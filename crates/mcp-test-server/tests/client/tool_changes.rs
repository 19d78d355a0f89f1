//! A server whose tools change says so (`notifications/tools/list_changed`: unasked before
//! 2026-07-28, on the listen stream the client opens from then on); the client lists them again
//! and offers the new ones.

use serde_json::json;

use crate::support::{self, stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_says_its_tools_changed_is_listed_again() {
    let running = support::start(json!({
        "legacy": stdio(&["--legacy-only"], json!({"allowTools": ["*"]})),
        "modern": stdio(&[], json!({"allowTools": ["*"]})),
    }));
    for server in ["legacy", "modern"] {
        running.connected(server).await;
        let grown = format!("{server}__grown");
        assert!(!running.names().contains(&grown), "{server}");

        let grew = running.call(&format!("{server}__grow"), json!({})).await;
        assert_eq!(grew.as_deref(), Ok("grew"));

        let (running, grown) = (&running, &grown);
        pincer_test_support::eventually(
            &format!("{server}'s new tool offered"),
            support::PATIENCE,
            move || async move { running.names().contains(grown).then_some(()) },
        )
        .await;
        assert_eq!(running.call(grown, json!({})).await.as_deref(), Ok("grown"));
    }
}
