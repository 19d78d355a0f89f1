//! The provider keys stay where they belong: a redirect is never followed with a key, and a
//! router with a token answers nobody without it.

use std::sync::{Arc, Mutex};

use crate::support::{Router, request};
use axum::http::HeaderMap;
use axum::response::Redirect;
use axum::routing::{any, post};
use serde_json::json;

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_key() {
    // The "elsewhere" a redirect points to records every request it gets.
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let elsewhere = axum::Router::new().route(
        "/{*path}",
        any(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().expect("lock").push(headers);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let elsewhere_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, elsewhere).await });
    let target = format!("{elsewhere_url}/v1/messages");
    let provider = axum::Router::new().route(
        "/v1/messages",
        post(move || {
            let target = target.clone();
            async move { Redirect::temporary(&target) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let provider_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let router = Router::start(json!({"providers": {"ant": {
        "api": "anthropic-messages", "baseUrl": provider_url, "apiKey": "sk-ant-secret",
        "models": [{"id": "m", "contextWindow": 200000}],
    }}}))
    .await;
    let outcome = router.chat(request("ant/m", &[])).await;
    assert!(
        outcome.code.is_some() && outcome.done.is_none(),
        "a redirect is an error, not an answer"
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the key went to the redirect's target"
    );
}
