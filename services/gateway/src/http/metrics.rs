//! `GET /metrics`: the whole stack's Prometheus text (see [`crate::metrics`]). It tells how busy
//! and how healthy everything is, so it takes the API's credential like `/v1/models`, checked by
//! [`super::admit::api`] before anything is read.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::Stack;

/// Admitted by [`super::admit::api`].
pub(super) async fn scrape(State(state): State<AppState>) -> Response {
    let inner = &state.inner;
    let agents = inner
        .agents
        .ids()
        .into_iter()
        // `default` is an alias: turns carry the id it resolves to.
        .filter(|id| id != "default")
        .collect();
    let stack = Stack {
        client: inner.turns.client(),
        js: &inner.control.js,
        namespace: &inner.control.namespace,
        agents,
    };
    let page = inner.turns.metrics().page(stack).await;
    (
        [(http::header::CONTENT_TYPE, pincer_metrics::CONTENT_TYPE)],
        page,
    )
        .into_response()
}
