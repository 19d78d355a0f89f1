//! MCP tools in an agent's tool box, under `tools.allow`/`tools.deny`.

use pincer_agent_runner::tools::{ToolBox, ToolError};
use pincer_agent_runner::workspace::Workspace;
use serde_json::json;

use crate::support::{self, stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_join_the_builtins_under_the_same_policy() {
    let running = support::start(json!({"t": stdio(&[], json!({"allowTools": ["*"]}))}));
    running.connected("t").await;
    let dir = tempfile::tempdir().expect("dir");
    let policy = pincer_config::Tools {
        deny: vec!["t__secret".into()],
        ..Default::default()
    };
    let tools = ToolBox::new(Workspace::open(dir.path()).expect("ws"), &policy)
        .with_mcp(running.manager.clone());
    let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"read".to_owned()) && names.contains(&"t__echo".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"t__secret".to_owned()),
        "tools.deny applies to mcp tools"
    );
    assert_eq!(
        tools
            .call("t__echo", r#"{"text":"via toolbox"}"#)
            .await
            .as_deref(),
        Ok("via toolbox")
    );
    let error = tools.call("t__secret", "{}").await.expect_err("denied");
    assert!(matches!(error, ToolError::Unknown { .. }), "{error}");
    let error = tools.call("t__fail", "").await.expect_err("isError");
    assert_eq!(error.to_string(), "the fail tool failed, as asked");

    let only = pincer_config::Tools {
        allow: vec!["read".into(), "t__ec*".into(), "t__add".into()],
        ..Default::default()
    };
    let tools = ToolBox::new(Workspace::open(dir.path()).expect("ws"), &only)
        .with_mcp(running.manager.clone());
    let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["read", "t__echo", "t__add"]);
    assert!(
        tools.call("read", r#"{"path":"SOUL.md"}"#).await.is_ok(),
        "built-ins unchanged"
    );
}
