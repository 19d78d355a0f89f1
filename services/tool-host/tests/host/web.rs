//! `web_fetch` and `web_search` against local servers: private addresses refused after
//! resolution (and after every redirect) unless `ssrfPolicy` lists the host; pages become text;
//! searches go to the configured provider.

use crate::support::Host;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use serde_json::{Value, json};

/// A local site: a page, a redirect to loopback by name, a redirect to 10/8, a JSON search API.
async fn site() -> String {
    let app = axum::Router::new()
        .route(
            "/page",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html><head><title>Local page</title><script>evil()</script></head><body><main><h1>Hi</h1><p>from the &lt;fake&gt; site</p></main></body></html>",
                )
            }),
        )
        .route("/to-localhost", get(|| async { Redirect::temporary("http://localhost:9/") }))
        .route("/to-private", get(|| async { Redirect::temporary("http://10.1.2.3/") }))
        .route("/to-page", get(|| async { Redirect::temporary("/page") }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "nope") }))
        .route(
            "/res/v1/web/search",
            get(|headers: HeaderMap, Query(query): Query<Value>| async move {
                if headers.get("x-subscription-token").and_then(|v| v.to_str().ok()) != Some("brave-key") {
                    return (StatusCode::UNAUTHORIZED, "bad token").into_response();
                }
                axum::Json(json!({"web": {"results": [
                    {"title": "Rust <b>lang</b>", "url": "https://www.rust-lang.org/", "description": format!("about {}", query["q"].as_str().unwrap_or(""))},
                    {"title": "Second", "url": "https://example.org/", "description": ""},
                ]}}))
                .into_response()
            }),
        )
        .route(
            "/search",
            get(|Query(query): Query<Value>| async move {
                assert_eq!(query["format"], "json");
                axum::Json(json!({"results": [{"title": "SearX hit", "url": "https://searx.example/", "content": "snippet"}]}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_by_default() {
    let base = site().await;
    let host = Host::start("{}").await;
    let port = base.rsplit(':').next().unwrap_or("80").to_owned();
    for url in [
        format!("{base}/page"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/page"),
        format!("http://localhost:{port}/page"),
        "http://100.64.0.7/".to_owned(),
    ] {
        let (out, error) = host.call("web_fetch", json!({"url": url})).await;
        assert!(error && out.contains("refused"), "{url}: {out}");
    }
    let (out, error) = host
        .call("web_fetch", json!({"url": "file:///etc/passwd"}))
        .await;
    assert!(error && out.contains("only http and https"), "{out}");
    let (out, error) = host.call("web_fetch", json!({"url": "not a url"})).await;
    assert!(error && out.contains("not a URL"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_host_is_fetched_as_text_and_redirects_are_checked_again() {
    let base = site().await;
    let host = Host::start(
        r#"{ tools: { web: { fetch: { ssrfPolicy: { allowedHostnames: ["127.0.0.1"] }, maxRedirects: 2 } } } }"#,
    )
    .await;
    let (out, error) = host
        .call("web_fetch", json!({"url": format!("{base}/page")}))
        .await;
    assert!(!error, "{out}");
    assert!(
        out.contains("Title: Local page")
            && out.contains("# Hi")
            && out.contains("from the <fake> site"),
        "{out}"
    );
    assert!(!out.contains("evil"), "{out}");
    let (out, error) = host
        .call("web_fetch", json!({"url": format!("{base}/to-page")}))
        .await;
    assert!(
        !error && out.contains("from the <fake> site") && out.contains("/page"),
        "{out}"
    );
    for target in ["to-localhost", "to-private"] {
        let (out, error) = host
            .call("web_fetch", json!({"url": format!("{base}/{target}")}))
            .await;
        assert!(error && out.contains("refused"), "{target}: {out}");
    }
    let (out, error) = host
        .call("web_fetch", json!({"url": format!("{base}/missing")}))
        .await;
    assert!(error && out.contains("HTTP 404"), "{out}");
    let (out, error) = host
        .call(
            "web_fetch",
            json!({"url": format!("{base}/page"), "maxChars": 100, "extractMode": "text"}),
        )
        .await;
    assert!(
        !error && !out.contains("# Hi") && out.contains("Hi"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_go_to_the_configured_provider() {
    let base = site().await;
    let host = Host::start("{}").await;
    let names: Vec<String> = host
        .catalog()
        .await
        .tools
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        !names.contains(&"web_search".to_owned()),
        "not offered without a provider: {names:?}"
    );
    let brave = Host::start(&format!(
        r#"{{ tools: {{ web: {{ search: {{ apiKey: "brave-key", brave: {{ baseUrl: "{base}/res/v1" }}, maxResults: 3 }} }} }} }}"#
    ))
    .await;
    let (out, error) = brave.call("web_search", json!({"query": "rust"})).await;
    assert!(!error, "{out}");
    assert!(
        out.contains("1. Rust lang\n   https://www.rust-lang.org/\n   about rust"),
        "{out}"
    );
    assert!(out.contains("2. Second"), "{out}");
    let wrong = Host::start(&format!(
        r#"{{ tools: {{ web: {{ search: {{ apiKey: "wrong", brave: {{ baseUrl: "{base}/res/v1" }} }} }} }} }}"#
    ))
    .await;
    let (out, error) = wrong.call("web_search", json!({"query": "rust"})).await;
    assert!(
        error && out.contains("HTTP 401") && !out.contains("wrong"),
        "{out}"
    );
    let searx = Host::start(&format!(
        r#"{{ tools: {{ web: {{ search: {{ provider: "searxng", searxng: {{ baseUrl: "{base}" }} }} }} }} }}"#
    ))
    .await;
    let (out, error) = searx.call("web_search", json!({"query": "x"})).await;
    assert!(!error && out.contains("1. SearX hit"), "{out}");
    let (out, error) = searx.call("web_search", json!({"query": " "})).await;
    assert!(error && out.contains("empty"), "{out}");
}
