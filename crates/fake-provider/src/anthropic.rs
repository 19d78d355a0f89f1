//! Anthropic Messages: `/v1/messages` (JSON, or SSE with named events).
//!
//! The request checks live in `anthropic_request`; this file shapes the answer: a `message`
//! object, or the event sequence `message_start`, `ping`, per content block
//! `content_block_start` / `content_block_delta`... / `content_block_stop`, then
//! `message_delta` (stop reason, output tokens) and `message_stop`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::anthropic_thinking::{self, THOUGHT};
use crate::chat::{Ending, Turn, begin, close_if_truncated, json_reply, paced_body};
use crate::knobs::Failure;
use crate::reply::fragments;
use crate::state::FakeState;
use crate::wire_error::{ANTHROPIC_REQUEST_ID, Dialect};

/// How many `partial_json` pieces a streamed tool input is cut into (at most; at least 2
/// for any JSON object, since `{}` is two characters).
const INPUT_FRAGMENTS: usize = 3;

/// The in-stream error Anthropic sends after HTTP 200 when capacity runs out.
const OVERLOADED_EVENT: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

/// `POST /v1/messages` (also served at `/messages`).
pub(crate) async fn messages(
    State(state): State<FakeState>,
    headers: HeaderMap,
    uri: Uri,
    bytes: Bytes,
) -> Response {
    let mut response = match begin(&state, Dialect::Anthropic, uri.path(), &headers, &bytes).await {
        Ok(turn) => answer(turn),
        Err(response) => response,
    };
    response
        .headers_mut()
        .insert("request-id", HeaderValue::from_static(ANTHROPIC_REQUEST_ID));
    response
}

fn answer(mut turn: Turn) -> Response {
    let stop_reason = apply_max_tokens(&mut turn);
    let reply = Reply::new(&turn, stop_reason);
    if turn.request.stream && !turn.knobs.ignore_stream {
        reply.stream(&turn)
    } else {
        json_reply(&turn, &reply.message(&turn))
    }
}

/// Cuts the text to the request's `max_tokens` (one word = one token); returns the stop
/// reason the answer will carry.
fn apply_max_tokens(turn: &mut Turn) -> &'static str {
    if turn.plan.tool.is_some() {
        return "tool_use";
    }
    let limit = turn
        .request
        .body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);
    if turn.plan.chunks.len() <= limit {
        return "end_turn";
    }
    turn.plan.chunks.truncate(limit);
    turn.plan.completion_tokens = u32::try_from(limit).unwrap_or(u32::MAX);
    "max_tokens"
}

/// A planned tool call as Anthropic sends it.
struct ToolUse {
    id: String,
    name: String,
    input: Value,
}

/// Fields every part of one answer shares.
struct Reply {
    id: String,
    stop_reason: &'static str,
    tool: Option<ToolUse>,
    /// The request thinks: a signed thinking block comes first.
    thinks: bool,
}

impl Reply {
    fn new(turn: &Turn, stop_reason: &'static str) -> Self {
        Self {
            id: format!("msg_fake{:08}", turn.seq),
            stop_reason,
            tool: turn.plan.tool.as_ref().map(|tool| ToolUse {
                id: format!("toolu_fake{:06}", turn.seq),
                name: tool.name.clone(),
                input: tool.arguments.clone(),
            }),
            thinks: turn
                .request
                .body
                .as_object()
                .is_some_and(anthropic_thinking::enabled),
        }
    }

    /// The index of the answer's own block: after the thinking block, if any.
    fn answer_index(&self) -> usize {
        usize::from(self.thinks)
    }

    /// The thinking block, whole.
    fn thinking_block() -> Value {
        json!({"type": "thinking", "thinking": THOUGHT, "signature": anthropic_thinking::signature(THOUGHT)})
    }

    /// `usage` with `output_tokens` as given. Cached tokens are reported apart from
    /// `input_tokens`, as Anthropic counts them (total input = input + cache creation + read).
    fn usage(turn: &Turn, output_tokens: u32) -> Value {
        json!({"input_tokens": turn.plan.prompt_tokens, "output_tokens": output_tokens,
               "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": turn.knobs.cached_tokens})
    }

    /// The non-streamed `message` object.
    fn message(&self, turn: &Turn) -> Value {
        let answer = match &self.tool {
            Some(tool) => json!({"type": "tool_use", "id": tool.id, "name": tool.name,
                                 "input": tool.input}),
            None => json!({"type": "text", "text": turn.plan.text()}),
        };
        let content = if self.thinks {
            json!([Self::thinking_block(), answer])
        } else {
            json!([answer])
        };
        json!({
            "id": self.id, "type": "message", "role": "assistant", "model": turn.model(),
            "content": content, "stop_reason": self.stop_reason, "stop_sequence": null,
            "usage": Self::usage(turn, turn.plan.completion_tokens),
        })
    }

    /// The SSE answer. A mid-stream failure sends half the text deltas then an `error` event;
    /// truncation sends part of the first block and stops without `content_block_stop`,
    /// `message_delta` or `message_stop`.
    fn stream(&self, turn: &Turn) -> Response {
        // The start message has no content yet; output_tokens counts up to message_delta's.
        let start = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": turn.model(),
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": Self::usage(turn, 1),
        });
        let mut frames = vec![
            event(
                "message_start",
                &json!({"type": "message_start", "message": start}),
            ),
            event("ping", &json!({"type": "ping"})),
        ];
        let ending = turn.ending();
        if self.thinks {
            frames.extend(thinking_frames());
        }
        frames.extend(self.block_frames(turn, ending));
        match ending {
            Ending::Finish => {
                frames.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": self.answer_index()}),
                ));
                frames.push(event(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                            "usage": {"output_tokens": turn.plan.completion_tokens}}),
                ));
                frames.push(event("message_stop", &json!({"type": "message_stop"})));
            }
            Ending::Error(failure) => frames.push(error_event(failure)),
            Ending::Truncate => {}
        }
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

    /// The one content block's start and deltas, as far as `ending` lets them go: text as one
    /// `text_delta` per word; a tool call as `input_json_delta` pieces of its JSON input (none
    /// before an error, only the first when truncated).
    fn block_frames(&self, turn: &Turn, ending: Ending<'_>) -> Vec<Bytes> {
        let index = self.answer_index();
        let start = |block: Value| {
            event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block}),
            )
        };
        let delta = |delta: Value| {
            event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        let Some(tool) = &self.tool else {
            let mut frames = vec![start(json!({"type": "text", "text": ""}))];
            frames.extend(
                turn.sent_chunks()
                    .iter()
                    .map(|word| delta(json!({"type": "text_delta", "text": word}))),
            );
            return frames;
        };
        let input = tool.input.to_string();
        let pieces = fragments(&input, INPUT_FRAGMENTS);
        let sent = match ending {
            Ending::Finish => pieces.len(),
            Ending::Truncate => 1,
            Ending::Error(_) => return Vec::new(),
        };
        let mut frames = vec![start(
            json!({"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}),
        )];
        frames.extend(
            pieces
                .iter()
                .take(sent)
                .map(|piece| delta(json!({"type": "input_json_delta", "partial_json": piece}))),
        );
        frames
    }
}

/// The thinking block at index 0, streamed: its text, then its signature.
fn thinking_frames() -> Vec<Bytes> {
    let delta = |delta: Value| {
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        )
    };
    vec![
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        delta(json!({"type": "thinking_delta", "thinking": THOUGHT})),
        delta(
            json!({"type": "signature_delta", "signature": anthropic_thinking::signature(THOUGHT)}),
        ),
        event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ),
    ]
}

/// One SSE frame: `event: <name>`, `data: <json>`, blank line.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The `error` event of a mid-stream failure: its custom body verbatim, else `overloaded_error`
/// (what Anthropic sends after 200; the failure status only shapes non-streamed errors).
fn error_event(failure: &Failure) -> Bytes {
    let data = failure.body.as_deref().unwrap_or(OVERLOADED_EVENT);
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}
