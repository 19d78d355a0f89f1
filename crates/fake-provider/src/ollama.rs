//! Ollama native API: `/api/chat` (JSON or NDJSON), `/api/tags`, `/api/show`, `/api/ps`,
//! `/api/version`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::chat::{Ending, Turn, begin, close_if_truncated, json_reply, paced_body};
use crate::knobs::Knobs;
use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response, failure_payload};

/// Version reported by `/api/version`.
const VERSION: &str = "0.12.0";
const NDJSON: &str = "application/x-ndjson";

/// `POST /api/chat`.
pub(crate) async fn chat(
    State(state): State<FakeState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let turn = match begin(&state, Dialect::Ollama, "/api/chat", &headers, &bytes).await {
        Ok(turn) => turn,
        Err(response) => return response,
    };
    // No messages means "load the model": Ollama answers with an empty final object.
    let load = turn.plan.messages == 0;
    if turn.request.stream {
        stream(&turn, load)
    } else {
        let mut message = json!({"role": "assistant", "content": ""});
        if !load {
            message["content"] = Value::String(turn.plan.text());
            if let Some(calls) = tool_calls(&turn) {
                message["tool_calls"] = calls;
            }
        }
        json_reply(&turn, &final_object(&turn, message, load))
    }
}

/// The NDJSON answer: one line per word (or one tool-call line, sent whole as Ollama does),
/// then the `done:true` line; with a mid-stream failure, the first half of the words and an
/// `{"error":...}` line; truncated, part of the words (or the tool-call line) and no `done`.
fn stream(turn: &Turn, load: bool) -> Response {
    let created_at = pincer_clock::rfc3339(pincer_clock::since_epoch());
    let chunk = |message: Value| {
        json!({"model": turn.model(), "created_at": created_at, "message": message,
               "done": false})
    };
    let ending = turn.ending();
    let words = if load { &[][..] } else { turn.sent_chunks() };
    let mut lines: Vec<Value> = words
        .iter()
        .map(|word| chunk(json!({"role": "assistant", "content": word})))
        .collect();
    let calls = tool_calls(turn).filter(|_| !load && !matches!(ending, Ending::Error(_)));
    if let Some(calls) = calls {
        lines.push(chunk(
            json!({"role": "assistant", "content": "", "tool_calls": calls}),
        ));
    }
    let mut frames: Vec<Bytes> = lines.iter().map(line).collect();
    match ending {
        Ending::Error(failure) => {
            let payload = failure_payload(Dialect::Ollama, failure);
            frames.push(Bytes::from(format!("{payload}\n")));
        }
        Ending::Finish => {
            let done = final_object(turn, json!({"role": "assistant", "content": ""}), load);
            frames.push(line(&done));
        }
        Ending::Truncate => {}
    }
    let response = (
        [(header::CONTENT_TYPE, NDJSON)],
        paced_body(frames, turn.chunk_gap()),
    )
        .into_response();
    close_if_truncated(turn, response)
}

fn line(value: &Value) -> Bytes {
    Bytes::from(format!("{value}\n"))
}

/// The planned tool call as Ollama sends it: whole, with `arguments` as a JSON object.
fn tool_calls(turn: &Turn) -> Option<Value> {
    let tool = turn.plan.tool.as_ref()?;
    Some(json!([{
        "id": turn.tool_call_id(),
        "function": {"index": 0, "name": tool.name, "arguments": tool.arguments},
    }]))
}

/// The `done:true` object carrying `done_reason` and the metrics (durations in ns).
fn final_object(turn: &Turn, message: Value, load: bool) -> Value {
    let (prompt_ns, eval_ns) = turn.durations_ns();
    let (prompt_tokens, eval_tokens) = if load {
        (0, 0)
    } else {
        (turn.plan.prompt_tokens, turn.plan.completion_tokens)
    };
    json!({
        "model": turn.model(),
        "created_at": pincer_clock::rfc3339(pincer_clock::since_epoch()),
        "message": message,
        "done": true,
        "done_reason": if load { "load" } else { "stop" },
        "total_duration": prompt_ns.saturating_add(eval_ns),
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": eval_tokens,
        "eval_duration": eval_ns,
    })
}

/// `GET /api/tags`.
pub(crate) async fn tags(State(state): State<FakeState>) -> Json<Value> {
    let knobs = state.knobs();
    let models: Vec<Value> = knobs
        .listed()
        .map(|name| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2026-01-01T00:00:00Z",
                "size": 1,
                "digest": "0".repeat(64),
                "details": details(),
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

/// `POST /api/show`: any model name is known; reports the context window (in `model_info`
/// under `<general.architecture>.context_length`, where clients look) and the capabilities.
pub(crate) async fn show(State(state): State<FakeState>, bytes: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(err) => {
            let message = format!("invalid JSON body: {err}");
            return error_response(Dialect::Ollama, StatusCode::BAD_REQUEST, &message);
        }
    };
    let named = ["model", "name"]
        .iter()
        .find_map(|key| body.get(key).and_then(Value::as_str))
        .filter(|name| !name.is_empty());
    if named.is_none() {
        return error_response(
            Dialect::Ollama,
            StatusCode::BAD_REQUEST,
            "model is required",
        );
    }
    Json(show_body(&state.knobs())).into_response()
}

fn show_body(knobs: &Knobs) -> Value {
    let context = knobs.context_window;
    let capabilities: &[&str] = if knobs.no_tools_capability {
        &["completion"]
    } else {
        &["completion", "tools"]
    };
    json!({
        "modelfile": format!("FROM fake\nPARAMETER num_ctx {context}\n"),
        "parameters": format!("num_ctx {context}"),
        "template": "{{ .Prompt }}",
        "details": details(),
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": 8_000_000_000_u64,
            "llama.context_length": context,
        },
        "capabilities": capabilities,
        "modified_at": "2026-01-01T00:00:00Z",
    })
}

fn details() -> Value {
    json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": "8.0B", "quantization_level": "Q4_0"})
}

/// `GET /api/ps`: nothing loaded.
pub(crate) async fn ps() -> Json<Value> {
    Json(json!({"models": []}))
}

/// `GET /api/version`.
pub(crate) async fn version() -> Json<Value> {
    Json(json!({ "version": VERSION }))
}
