//! `GET /metrics` through the whole stack: the token is required, every replica of every service
//! answers the gateway's scrape over NATS, and turns, model and tool calls, fallbacks, failures
//! and breakers move the counters by what happened.

use std::collections::HashMap;
use std::time::Duration;

use pincer_fake_provider::{Failure, Knobs, ScriptStep, ScriptedTool};
use pincer_system_tests::{Stack, TOKEN};
use pincer_test_support::eventually;
use serde_json::{Value, json};

/// The page's samples by series (`name{labels}` as rendered, without the `replica` label), summed
/// over the replicas.
fn parse(page: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in page.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        *samples.entry(without_replica(series)).or_insert(0.0) += value;
    }
    samples
}

/// `series` without its `replica="..."` label.
fn without_replica(series: &str) -> String {
    let Some(start) = series.find("replica=\"") else {
        return series.to_owned();
    };
    let value_start = start + "replica=\"".len();
    let Some(length) = series[value_start..].find('"') else {
        return series.to_owned();
    };
    let mut end = value_start + length + 1;
    if series[end..].starts_with(',') {
        end += 1;
    }
    format!("{}{}", &series[..start], &series[end..]).replace("{}", "")
}

/// Every family is declared once, whatever the number of replicas (Prometheus refuses a page
/// that declares one twice).
fn assert_declared_once(page: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in page.lines().filter(|line| line.starts_with("# TYPE ")) {
        assert!(seen.insert(line), "declared twice: {line}");
    }
}

async fn scrape(stack: &Stack) -> HashMap<String, f64> {
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", stack.gateway_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let page = response.text().await.expect("text");
    assert_declared_once(&page);
    parse(&page)
}

/// Scrapes until every series in `expected` has its value (the runner counts a turn just after
/// the gateway hears its outcome); panics with the last page's values otherwise.
async fn wait_for(stack: &Stack, expected: &[(&str, f64)]) -> HashMap<String, f64> {
    eventually("the expected metrics", Duration::from_secs(10), || async {
        let samples = scrape(stack).await;
        let all = expected
            .iter()
            .all(|(series, value)| samples.get(*series) == Some(value));
        if !all {
            let seen: Vec<_> = expected
                .iter()
                .map(|(series, _)| (series, samples.get(*series)))
                .collect();
            eprintln!("metrics not there yet: {seen:?}");
        }
        all.then_some(samples)
    })
    .await
}

/// The metric names the Grafana dashboard's queries use.
fn dashboard_metrics() -> Vec<String> {
    let path = pincer_system_tests::repo_root().join("docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("docs/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["schemaVersion"], 39);
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{panel}");
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for (start, _) in expr.match_indices("pincer_") {
                let name: String = expr[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    assert!(names.len() > 10, "{names:?}");
    names
}

/// Every family the page declares (`# TYPE <name> <type>`), histograms with their series' names.
fn declared(page: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in page.lines() {
        let mut words = line.split(' ');
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.push(name.to_owned());
            if kind == "histogram" {
                names.extend(["_bucket", "_count", "_sum"].map(|s| format!("{name}{s}")));
            }
        }
    }
    names
}

fn turn(text: &str) -> Value {
    json!({ "model": "pincer/default", "user": "mia", "messages": [{ "role": "user", "content": text }] })
}

fn tool(name: &str) -> ScriptStep {
    ScriptStep {
        text: String::new(),
        tool: Some(ScriptedTool {
            name: name.to_owned(),
            arguments: json!({}),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_and_count_what_the_stack_did() {
    let mut stack = Stack::start(Knobs::default()).await;
    // Two runners: their figures add up on one page.
    stack.add_agent_runner().await;
    stack.wait_ready().await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", stack.gateway_url);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let wrong = client.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    wait_for(
        &stack,
        &[
            ("pincer_scrape_up{service=\"agent-runner\"}", 1.0),
            ("pincer_scrape_replicas{service=\"agent-runner\"}", 2.0),
            ("pincer_scrape_replicas{service=\"llm-router\"}", 1.0),
            ("pincer_scrape_up{service=\"llm-router\"}", 1.0),
            ("pincer_scrape_up{service=\"channel-bridge\"}", 1.0),
            (
                "pincer_gateway_queue_depth{agent=\"main\",lane=\"main\"}",
                0.0,
            ),
        ],
    )
    .await;

    // A plain turn, a one-off (no session: nothing stored), a streamed one, and one with a tool
    // call and a call to a tool nobody offered.
    assert_eq!(stack.chat(&turn("one")).send().await.unwrap().status(), 200);
    let mut one_off = turn("two");
    one_off.as_object_mut().map(|body| body.remove("user"));
    assert_eq!(stack.chat(&one_off).send().await.unwrap().status(), 200);
    let mut streamed = turn("three");
    streamed["stream"] = json!(true);
    let response = stack.chat(&streamed).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("[DONE]"), "{body}");
    stack.fake.set_knobs(Knobs {
        script: vec![
            tool("list"),
            tool("no_such_tool"),
            ScriptStep {
                text: "Listed.".to_owned(),
                tool: None,
            },
        ],
        ..Knobs::default()
    });
    assert_eq!(
        stack.chat(&turn("four")).send().await.unwrap().status(),
        200
    );

    let samples = wait_for(
        &stack,
        &[
            ("pincer_gateway_turns_accepted_total{source=\"http\",agent=\"main\"}", 4.0),
            (
                "pincer_gateway_turns_finished_total{source=\"http\",agent=\"main\",outcome=\"done\"}",
                4.0,
            ),
            ("pincer_gateway_turn_duration_seconds_count{source=\"http\"}", 4.0),
            ("pincer_gateway_time_to_first_token_seconds_count{source=\"http\"}", 1.0),
            ("pincer_runner_turns_total{agent=\"main\",outcome=\"answered\"}", 4.0),
            ("pincer_runner_turn_duration_seconds_count{agent=\"main\"}", 4.0),
            ("pincer_runner_model_calls_total{agent=\"main\",outcome=\"ok\"}", 6.0),
            ("pincer_runner_tool_calls_total{tool=\"list\",outcome=\"ok\"}", 1.0),
            ("pincer_runner_tool_calls_total{tool=\"unlisted\",outcome=\"error\"}", 1.0),
            (
                "pincer_router_provider_calls_total{provider=\"ollama\",model=\"ollama/fake-model\",outcome=\"ok\"}",
                6.0,
            ),
            ("pincer_router_time_to_first_token_seconds_count{provider=\"ollama\"}", 6.0),
        ],
    )
    .await;
    assert!(
        !samples.keys().any(|series| series.contains("no_such_tool")),
        "an invented tool name is not a label"
    );

    // The primary fails twice (the call and its retry): the fallback serves and the primary's
    // breaker opens.
    stack.fake.set_knobs(Knobs {
        fail: Some(Failure::http(503, Some(2))),
        ..Knobs::default()
    });
    assert_eq!(
        stack.chat(&turn("five")).send().await.unwrap().status(),
        200
    );
    wait_for(
        &stack,
        &[
            (
                "pincer_router_provider_calls_total{provider=\"ollama\",model=\"ollama/fake-model\",outcome=\"overloaded\"}",
                2.0,
            ),
            (
                "pincer_router_provider_calls_total{provider=\"compat\",model=\"compat/fake-model\",outcome=\"ok\"}",
                1.0,
            ),
            ("pincer_router_fallbacks_total{model=\"compat/fake-model\"}", 1.0),
            ("pincer_router_breaker_state{target=\"model/ollama/fake-model\"}", 2.0),
            ("pincer_runner_turns_total{agent=\"main\",outcome=\"answered\"}", 5.0),
        ],
    )
    .await;

    // Every provider fails: the turn fails, and both the runner and the gateway say how.
    stack.fake.set_knobs(Knobs {
        fail: Some(Failure::http(500, None)),
        ..Knobs::default()
    });
    assert_eq!(stack.chat(&turn("six")).send().await.unwrap().status(), 502);
    wait_for(
        &stack,
        &[
            (
                "pincer_runner_turns_total{agent=\"main\",outcome=\"provider_unavailable\"}",
                1.0,
            ),
            (
                "pincer_gateway_turns_finished_total{source=\"http\",agent=\"main\",outcome=\"provider_unavailable\"}",
                1.0,
            ),
            ("pincer_gateway_turns_accepted_total{source=\"http\",agent=\"main\"}", 6.0),
        ],
    )
    .await;

    // Every metric the dashboard plots is one the stack serves.
    let page = reqwest::Client::new()
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let declared = declared(&page);
    for name in dashboard_metrics() {
        assert!(
            declared.contains(&name) || registered(&name),
            "the dashboard plots {name}, which nobody serves"
        );
    }
}

/// Whether a service registers `name` (a family appears on the page only once it has a series:
/// key rotations, channels and MCP servers need more than this stack has).
fn registered(name: &str) -> bool {
    let services = [
        ("pincer_gateway_", "gateway"),
        ("pincer_runner_", "agent-runner"),
        ("pincer_router_", "llm-router"),
        ("pincer_bridge_", "channel-bridge"),
    ];
    let Some((rest, service)) = services
        .iter()
        .find_map(|(prefix, service)| Some((name.strip_prefix(prefix)?, *service)))
    else {
        return false;
    };
    let base = ["_bucket", "_count", "_sum"]
        .iter()
        .fold(rest, |name, suffix| {
            name.strip_suffix(suffix).unwrap_or(name)
        });
    let base = base
        .strip_suffix("_total")
        .or_else(|| base.strip_suffix("_seconds"))
        .unwrap_or(base);
    let source =
        pincer_system_tests::repo_root().join(format!("services/{service}/src/metrics.rs"));
    std::fs::read_to_string(source).is_ok_and(|text| text.contains(&format!("\"{base}\"")))
}
