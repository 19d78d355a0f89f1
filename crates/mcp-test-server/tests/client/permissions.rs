//! Which tools are offered: none by default, an `allowTools` list, `["*"]`, `toolFilter`.

use serde_json::json;

use crate::support::{self, stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_tools_are_offered_namespaced() {
    let running = support::start(json!({
        "none": stdio(&[], json!({})),
        "some": stdio(&[], json!({"allowTools": ["echo", "add"]})),
        "all": stdio(&[], json!({"allowTools": ["*"]})),
        "filtered": stdio(&[], json!({"toolFilter": {"include": ["*"], "exclude": ["secret", "crash"]}})),
    }));
    let listed = pincer_mcp_test_server::TOOL_NAMES.len();
    for name in ["none", "some", "all", "filtered"] {
        let status = running.connected(name).await;
        assert_eq!(
            status.listed, listed,
            "{name}: every page of tools/list is read"
        );
        assert_eq!(status.transport, "stdio");
    }
    assert_eq!(running.status("none").tools, 0, "deny by default");
    assert_eq!(running.status("all").tools, listed);

    let names = running.names();
    assert!(!names.iter().any(|n| n.starts_with("none__")), "{names:?}");
    let some: Vec<&String> = names.iter().filter(|n| n.starts_with("some__")).collect();
    assert_eq!(some, ["some__echo", "some__add"]);
    assert!(names.contains(&"all__secret".to_owned()));
    assert!(names.contains(&"filtered__echo".to_owned()));
    assert!(
        !names.contains(&"filtered__secret".to_owned())
            && !names.contains(&"filtered__crash".to_owned())
    );

    let echo = running
        .manager
        .specs()
        .into_iter()
        .find(|spec| spec.name == "some__echo")
        .expect("offered");
    assert_eq!(echo.description, "[some] Returns `text` unchanged.");
    let schema: serde_json::Value = serde_json::from_str(&echo.parameters_json).expect("schema");
    assert_eq!(schema["required"], json!(["text"]));

    let error = running
        .call("none__secret", json!({}))
        .await
        .expect_err("denied");
    assert!(error.starts_with("unknown tool `none__secret`"), "{error}");
    let error = running
        .call("some__secret", json!({}))
        .await
        .expect_err("not allowed");
    assert!(error.contains("some__echo, some__add"), "{error}");
    assert_eq!(
        running.call("all__secret", json!({})).await.as_deref(),
        Ok("the secret is 42")
    );
}
