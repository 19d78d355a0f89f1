//! `POST /api/pull`, as Ollama streams it: NDJSON status lines (`pulling manifest`, then one
//! layer's `total`/`completed` bytes in steps, `verifying sha256 digest`, `writing manifest`,
//! `success`). A name containing `does-not-exist` fails the way Ollama does
//! (`{"error": "pull model manifest: file does not exist"}`); a pulled model is listed by
//! `/api/tags` from then on.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response};

/// The pretend layer's size and the steps it arrives in.
const LAYER_BYTES: u64 = 2_019_377_376;
const STEPS: u64 = 8;

pub(crate) async fn pull(State(state): State<FakeState>, bytes: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let Some(model) = body["model"]
        .as_str()
        .or_else(|| body["name"].as_str())
        .map(str::to_owned)
    else {
        return error_response(
            Dialect::Ollama,
            StatusCode::BAD_REQUEST,
            "model is required",
        );
    };
    let mut lines = vec![json!({ "status": "pulling manifest" })];
    if model.contains("does-not-exist") {
        lines.push(json!({ "error": "pull model manifest: file does not exist" }));
    } else {
        let digest = format!("sha256:{}", "7".repeat(64));
        for step in 1..=STEPS {
            lines.push(json!({
                "status": format!("pulling {}", &digest[7..19]),
                "digest": digest,
                "total": LAYER_BYTES,
                "completed": LAYER_BYTES * step / STEPS,
            }));
        }
        lines.extend([
            json!({ "status": "verifying sha256 digest" }),
            json!({ "status": "writing manifest" }),
            json!({ "status": "success" }),
        ]);
        let mut knobs = state.knobs();
        if !knobs.listed().any(|listed| listed == model) {
            knobs.listed_models.push(model);
            state.set_knobs(knobs);
        }
    }
    if body["stream"] == false {
        let last = lines.pop().unwrap_or(Value::Null);
        return axum::Json(last).into_response();
    }
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(text))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
