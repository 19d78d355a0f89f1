//! OpenAI Chat Completions: `/v1/chat/completions` (JSON or SSE) and `/v1/models`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::chat::{Ending, Turn, begin, close_if_truncated, json_reply, paced_body};
use crate::knobs::Knobs;
use crate::reply::fragments;
use crate::state::FakeState;
use crate::wire_error::{Dialect, failure_payload};

/// How many `arguments` fragments a streamed tool call is cut into (at most).
const ARGUMENT_FRAGMENTS: usize = 3;

/// `POST /v1/chat/completions` (also served at `/chat/completions`).
pub(crate) async fn chat(
    State(state): State<FakeState>,
    headers: HeaderMap,
    uri: Uri,
    bytes: Bytes,
) -> Response {
    let turn = match begin(&state, Dialect::OpenAi, uri.path(), &headers, &bytes).await {
        Ok(turn) => turn,
        Err(response) => return response,
    };
    let reply = Reply::new(&turn);
    if turn.request.stream && !turn.knobs.ignore_stream {
        reply.stream(&turn)
    } else {
        json_reply(&turn, &reply.completion(&turn))
    }
}

/// Fields every object of one answer shares.
struct Reply {
    id: String,
    created: u64,
    usage: Value,
    /// The planned tool call: `(id, name, arguments as a JSON string)`.
    tool: Option<(String, String, String)>,
}

impl Reply {
    fn new(turn: &Turn) -> Self {
        // OpenAI counts cached tokens inside prompt_tokens.
        let cached = turn.knobs.cached_tokens;
        let prompt = turn.plan.prompt_tokens.saturating_add(cached);
        let completion = turn.plan.completion_tokens;
        Self {
            id: format!("chatcmpl-fake{:08}", turn.seq),
            created: pincer_clock::now_secs(),
            usage: json!({"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt.saturating_add(completion),
                          "prompt_tokens_details": {"cached_tokens": cached}}),
            tool: turn.plan.tool.as_ref().map(|tool| {
                (
                    turn.tool_call_id(),
                    tool.name.clone(),
                    tool.arguments.to_string(),
                )
            }),
        }
    }

    fn finish_reason(&self) -> &'static str {
        if self.tool.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
    }

    /// The non-streamed `chat.completion` object.
    fn completion(&self, turn: &Turn) -> Value {
        let mut message =
            json!({"role": "assistant", "content": turn.plan.text(), "refusal": null});
        if let Some((id, name, arguments)) = &self.tool {
            message["content"] = Value::Null;
            message["tool_calls"] = json!([{"id": id, "type": "function",
                                            "function": {"name": name, "arguments": arguments}}]);
        }
        json!({
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": turn.model(), "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": self.finish_reason()}],
            "usage": self.usage,
        })
    }

    /// One `chat.completion.chunk` with a single choice.
    fn chunk(&self, turn: &Turn, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": turn.model(), "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null,
                         "finish_reason": finish_reason}],
        });
        if turn.request.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The SSE answer: role delta, content or tool-call deltas, the finish chunk, the usage
    /// chunk (`choices: []`, only with `include_usage`) and `[DONE]`; or, with a mid-stream
    /// failure, part of the content and a `data: {"error":...}` event without `[DONE]`; or,
    /// truncated, part of the content (or the tool call's first argument fragment) and nothing
    /// after it.
    fn stream(&self, turn: &Turn) -> Response {
        let mut events = vec![self.chunk(turn, json!({"role": "assistant", "content": ""}), None)];
        events.extend(
            turn.sent_chunks()
                .iter()
                .map(|word| self.chunk(turn, json!({ "content": word }), None)),
        );
        let mut frames: Vec<Bytes> = events.iter().map(sse).collect();
        match turn.ending() {
            Ending::Error(failure) => {
                let payload = failure_payload(Dialect::OpenAi, failure);
                frames.push(Bytes::from(format!("data: {payload}\n\n")));
                return event_stream(frames, turn);
            }
            Ending::Truncate => {
                // The head and the first argument fragment: a call cut mid-arguments.
                frames.extend(self.tool_deltas(turn).iter().take(2).map(sse));
                return event_stream(frames, turn);
            }
            Ending::Finish => {}
        }
        let mut tail = self.tool_deltas(turn);
        tail.push(self.chunk(turn, json!({}), Some(self.finish_reason())));
        if turn.request.include_usage {
            tail.push(json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": turn.model(), "system_fingerprint": "fp_fake",
                "choices": [], "usage": self.usage,
            }));
        }
        frames.extend(tail.iter().map(sse));
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
        event_stream(frames, turn)
    }

    /// The tool call as deltas: `{index, id, type, function:{name, arguments:""}}`, then the
    /// arguments string in fragments carrying only `index` and `function.arguments`.
    fn tool_deltas(&self, turn: &Turn) -> Vec<Value> {
        let Some((id, name, arguments)) = &self.tool else {
            return Vec::new();
        };
        let head = json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                                          "function": {"name": name, "arguments": ""}}]});
        let mut deltas = vec![self.chunk(turn, head, None)];
        deltas.extend(
            fragments(arguments, ARGUMENT_FRAGMENTS)
                .into_iter()
                .map(|piece| {
                    let delta =
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                    self.chunk(turn, delta, None)
                }),
        );
        deltas
    }
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn event_stream(frames: Vec<Bytes>, turn: &Turn) -> Response {
    let response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        paced_body(frames, turn.chunk_gap()),
    )
        .into_response();
    close_if_truncated(turn, response)
}

/// `GET /v1/models` (also `/models`): OpenAI's list, whose cards also carry the fields
/// OpenRouter's have (`name`, `context_length`, `pricing`). With the `api_key` knob set, a
/// request without that key gets OpenAI's 401.
pub(crate) async fn models(State(state): State<FakeState>, headers: HeaderMap) -> Response {
    let knobs = state.knobs();
    if !crate::auth::authorized(knobs.api_key.as_deref(), Dialect::OpenAi, &headers) {
        return crate::wire_error::unauthorized_response(Dialect::OpenAi);
    }
    let cards: Vec<Value> = knobs
        .listed()
        .map(|id| model_card(&knobs, Some(id.to_owned())))
        .collect();
    Json(json!({"object": "list", "data": cards})).into_response()
}

/// OpenRouter's `GET /api/v1/key` (served at `/v1/key` and `/key`): what the presented key may
/// spend; 401 without a key, or with another key than the `api_key` knob's.
pub(crate) async fn key(State(state): State<FakeState>, headers: HeaderMap) -> Response {
    let knobs = state.knobs();
    let accepted = crate::auth::presents_key(Dialect::OpenAi, &headers)
        && crate::auth::authorized(knobs.api_key.as_deref(), Dialect::OpenAi, &headers);
    if !accepted {
        return crate::wire_error::error_response(
            Dialect::OpenAi,
            axum::http::StatusCode::UNAUTHORIZED,
            "No auth credentials found",
        );
    }
    Json(json!({"data": {
        "label": "sk-or-v1-fak...key", "limit": null, "usage": 0, "limit_remaining": null,
        "is_free_tier": false, "rate_limit": {"requests": 20, "interval": "10s"},
    }}))
    .into_response()
}

/// `GET /v1/models/{id}`: any id is known.
pub(crate) async fn model(State(state): State<FakeState>, Path(id): Path<String>) -> Json<Value> {
    Json(model_card(&state.knobs(), Some(id)))
}

fn model_card(knobs: &Knobs, id: Option<String>) -> Value {
    json!({
        "id": id.as_deref().unwrap_or(knobs.model.as_str()),
        "name": id.as_deref().unwrap_or(knobs.model.as_str()),
        "object": "model", "created": 0, "owned_by": "pincer-fake-provider",
        "context_length": knobs.context_window, "max_model_len": knobs.context_window,
        "pricing": {"prompt": "0", "completion": "0"},
    })
}
