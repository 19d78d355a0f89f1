//! Embeddings: Ollama's `POST /api/embed` (`{model, input}` → `{model, embeddings}`) and
//! OpenAI's `POST /v1/embeddings` (`{model, input, dimensions?}` → `{data: [{embedding,
//! index}], model, usage}`), both answered with [`crate::embedding::embed`]. `input` may be a
//! string or an array of strings. The `api_key` and `fail` knobs apply as to chats (a counted
//! failure is not used up here).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth;
use crate::embedding::{DEFAULT_DIMS, embed};
use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response, failure_response, unauthorized_response};

/// Longest vector the fake makes.
const MAX_DIMS: usize = 4096;

/// `POST /api/embed`.
pub(crate) async fn ollama(
    State(state): State<FakeState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    match parse(&state, Dialect::Ollama, &headers, &bytes) {
        Ok(request) => {
            let embeddings: Vec<Vec<f32>> = request
                .inputs
                .iter()
                .map(|text| embed(text, request.dims))
                .collect();
            Json(json!({"model": request.model, "embeddings": embeddings,
                        "prompt_eval_count": request.tokens()}))
            .into_response()
        }
        Err(response) => *response,
    }
}

/// `POST /v1/embeddings` (also served at `/embeddings`).
pub(crate) async fn openai(
    State(state): State<FakeState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    match parse(&state, Dialect::OpenAi, &headers, &bytes) {
        Ok(request) => {
            // Out of order on purpose: clients must place each vector by its `index`.
            let data: Vec<Value> = request
                .inputs
                .iter()
                .enumerate()
                .rev()
                .map(|(index, text)| {
                    json!({"object": "embedding", "index": index, "embedding": embed(text, request.dims)})
                })
                .collect();
            let tokens = request.tokens();
            Json(
                json!({"object": "list", "data": data, "model": request.model,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
            )
            .into_response()
        }
        Err(response) => *response,
    }
}

struct EmbedRequest {
    model: String,
    inputs: Vec<String>,
    dims: usize,
}

impl EmbedRequest {
    /// A rough token count: words.
    fn tokens(&self) -> usize {
        self.inputs
            .iter()
            .map(|text| text.split_whitespace().count())
            .sum()
    }
}

fn parse(
    state: &FakeState,
    dialect: Dialect,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<EmbedRequest, Box<Response>> {
    let knobs = state.knobs();
    if !auth::authorized(knobs.api_key.as_deref(), dialect, headers) {
        return Err(Box::new(unauthorized_response(dialect)));
    }
    let bad = |message: &str| Box::new(error_response(dialect, StatusCode::BAD_REQUEST, message));
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|error| bad(&format!("invalid JSON body: {error}")))?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .ok_or_else(|| bad("model is required"))?
        .to_owned();
    let inputs = match body.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`input` must be a string or an array of strings"))?,
        _ => return Err(bad("`input` is required")),
    };
    let dims = match body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMS,
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_DIMS).contains(n))
            .ok_or_else(|| bad("`dimensions` must be an integer from 1 to 4096"))?,
    };
    if let Some(failure) = &knobs.fail {
        state.recorder().count_failure();
        return Err(Box::new(failure_response(dialect, failure)));
    }
    Ok(EmbedRequest {
        model,
        inputs,
        dims,
    })
}
