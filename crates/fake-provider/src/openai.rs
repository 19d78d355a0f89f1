//! OpenAI Chat Completions: `/v1/chat/completions` (JSON or SSE) and `/v1/models`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::chat::{Turn, begin, paced_body};
use crate::clock::unix_secs;
use crate::knobs::Knobs;
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
    if turn.request.stream {
        reply.stream(&turn)
    } else {
        Json(reply.completion(&turn)).into_response()
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
        let (prompt, completion) = (turn.plan.prompt_tokens, turn.plan.completion_tokens);
        Self {
            id: format!("chatcmpl-fake{:08}", turn.seq),
            created: unix_secs(),
            usage: json!({"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt.saturating_add(completion)}),
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
    /// failure, part of the content and a `data: {"error":...}` event without `[DONE]`.
    fn stream(&self, turn: &Turn) -> Response {
        let mut events = vec![self.chunk(turn, json!({"role": "assistant", "content": ""}), None)];
        let failure = turn.mid_stream_failure();
        let words = match failure {
            Some(_) => &turn.plan.chunks[..turn.chunks_before_error()],
            None => &turn.plan.chunks[..],
        };
        events.extend(
            words
                .iter()
                .map(|word| self.chunk(turn, json!({ "content": word }), None)),
        );
        let mut frames: Vec<Bytes> = events.iter().map(sse).collect();
        if let Some(failure) = failure {
            let payload = failure_payload(Dialect::OpenAi, failure);
            frames.push(Bytes::from(format!("data: {payload}\n\n")));
            return event_stream(frames, turn);
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
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        paced_body(frames, turn.chunk_gap()),
    )
        .into_response()
}

/// Cuts `text` into at most `pieces` non-empty parts of similar length (on char boundaries).
fn fragments(text: &str, pieces: usize) -> Vec<&str> {
    let chars = text.chars().count();
    let size = chars.div_ceil(pieces.max(1)).max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(size).map_or(rest.len(), |(i, _)| i);
        let (head, tail) = rest.split_at(cut);
        parts.push(head);
        rest = tail;
    }
    parts
}

/// `GET /v1/models` (also `/models`).
pub(crate) async fn models(State(state): State<FakeState>) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_card(&state.knobs(), None)]}))
}

/// `GET /v1/models/{id}`: any id is known.
pub(crate) async fn model(State(state): State<FakeState>, Path(id): Path<String>) -> Json<Value> {
    Json(model_card(&state.knobs(), Some(id)))
}

fn model_card(knobs: &Knobs, id: Option<String>) -> Value {
    json!({
        "id": id.unwrap_or_else(|| knobs.model.clone()),
        "object": "model", "created": 0, "owned_by": "pincer-fake-provider",
        "context_length": knobs.context_window, "max_model_len": knobs.context_window,
    })
}

#[cfg(test)]
mod tests {
    use super::fragments;

    #[test]
    fn fragments_cover_the_text() {
        assert_eq!(fragments("{}", 3), ["{", "}"]);
        assert_eq!(fragments("", 3), Vec::<&str>::new());
        let text = r#"{"city":"Zürich"}"#;
        let parts = fragments(text, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
    }
}
