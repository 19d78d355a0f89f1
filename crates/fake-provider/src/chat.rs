//! The chat pipeline every dialect shares: check the key, parse, plan, record, fail or wait,
//! then stream (or cut the stream short).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::anthropic_request;
use crate::auth;
use crate::knobs::{Failure, Knobs};
use crate::record::{ChatRecord, RecordedRequest, selected_headers};
use crate::reply::{Plan, plan};
use crate::request::ChatRequest;
use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response, failure_response, unauthorized_response};

/// How a streamed answer ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending<'a> {
    /// All the content, then the wire's finish marker.
    Finish,
    /// Part of the content, then an in-stream error (HTTP status stays 200).
    Error(&'a Failure),
    /// Part of the content, then the body just ends: no finish marker, connection closed.
    Truncate,
}

/// A chat request that will be answered (possibly with a mid-stream failure).
#[derive(Debug)]
pub(crate) struct Turn {
    pub request: ChatRequest,
    pub plan: Plan,
    pub knobs: Knobs,
    /// 1-based sequence number of this chat request, used in ids.
    pub seq: u64,
}

impl Turn {
    /// The model to name in responses: the requested one.
    pub fn model(&self) -> &str {
        &self.request.model
    }

    /// Id of the planned tool call.
    pub fn tool_call_id(&self) -> String {
        format!("call_{:06}", self.seq)
    }

    /// How the stream ends: a mid-stream failure wins over truncation.
    pub fn ending(&self) -> Ending<'_> {
        match self.knobs.fail.as_ref().filter(|f| f.mid_stream) {
            Some(failure) => Ending::Error(failure),
            None if self.knobs.truncate => Ending::Truncate,
            None => Ending::Finish,
        }
    }

    /// Whether this answer is cut short (see [`Knobs::truncate`]).
    pub fn truncated(&self) -> bool {
        matches!(self.ending(), Ending::Truncate)
    }

    /// The text chunks that go out: all of them, or before an error the first half (rounded
    /// up), or before a cut the first half but at least 2 (so a client has seen content).
    pub fn sent_chunks(&self) -> &[String] {
        let all = self.plan.chunks.len();
        let sent = match self.ending() {
            Ending::Finish => all,
            Ending::Error(_) => all.div_ceil(2),
            Ending::Truncate => all.div_ceil(2).max(all.min(2)),
        };
        &self.plan.chunks[..sent]
    }

    /// Pause between streamed frames.
    pub fn chunk_gap(&self) -> Duration {
        Duration::from_millis(self.knobs.chunk_delay_ms)
    }

    /// Nanoseconds the knobs make this reply take: `(prompt, generation)`.
    pub fn durations_ns(&self) -> (u64, u64) {
        let prompt = self.knobs.delay_ms.saturating_mul(1_000_000);
        let chunks = u64::try_from(self.plan.chunks.len()).unwrap_or(u64::MAX);
        let generation = self
            .knobs
            .chunk_delay_ms
            .saturating_mul(1_000_000)
            .saturating_mul(chunks)
            .max(1);
        (prompt, generation)
    }
}

/// Checks the key, parses and records a chat request, then either answers it with a 401, a
/// 400 or an injected failure (`Err`), or waits `delay_ms` and hands back the [`Turn`] to
/// answer. Refused requests are not recorded and do not use up a counted failure.
pub(crate) async fn begin(
    state: &FakeState,
    dialect: Dialect,
    path: &str,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<Turn, Response> {
    let current = state.knobs();
    if !auth::authorized(current.api_key.as_deref(), dialect, headers) {
        return Err(unauthorized_response(dialect));
    }
    let request = parse(dialect, headers, bytes)
        .and_then(|request| capable(dialect, &current, request))
        .map_err(|message| error_response(dialect, StatusCode::BAD_REQUEST, &message))?;
    let (knobs, step) = state.knobs_for_chat();
    let plan = plan(&request, &knobs, step.as_ref());
    let seq = state.recorder().record_chat(ChatRecord {
        request: RecordedRequest {
            path: path.to_owned(),
            body: request.body.clone(),
            headers: selected_headers(headers),
            body_bytes: bytes.len(),
        },
        wire_body: bytes,
        stream: request.stream,
        tool_call: plan.tool.is_some() && knobs.fail.is_none(),
        after_tool: plan.after_tool,
        messages: plan.messages,
        tool_names: request.tool_names.clone(),
    });
    if let Some(failure) = &knobs.fail {
        state.recorder().count_failure();
        if !(failure.mid_stream && request.stream) {
            return Err(failure_response(dialect, failure));
        }
    }
    if knobs.delay_ms > 0 {
        let _counted = state.recorder().delayed();
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    Ok(Turn {
        request,
        plan,
        knobs,
        seq,
    })
}

/// Parses the body (and for Anthropic the version header) as `dialect` requires.
fn parse(dialect: Dialect, headers: &HeaderMap, bytes: &[u8]) -> Result<ChatRequest, String> {
    match dialect {
        Dialect::Anthropic => anthropic_request::parse(headers, bytes).map_err(|e| e.to_string()),
        Dialect::Ollama | Dialect::OpenAi => {
            ChatRequest::parse(bytes, dialect).map_err(|e| e.to_string())
        }
    }
}

/// Refuses what the advertised model cannot do: Ollama checks `capabilities` before running
/// a model, so tools offered to a model without `"tools"` are a 400.
fn capable(dialect: Dialect, knobs: &Knobs, request: ChatRequest) -> Result<ChatRequest, String> {
    if dialect == Dialect::Ollama && knobs.no_tools_capability && !request.tool_names.is_empty() {
        return Err(format!("\"{}\" does not support tools", request.model));
    }
    Ok(request)
}

/// The non-streamed JSON answer; with `truncate`, only its first half (invalid JSON) and the
/// connection closed.
pub(crate) fn json_reply(turn: &Turn, value: &Value) -> Response {
    let mut text = value.to_string();
    if turn.truncated() {
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let response = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    close_if_truncated(turn, response)
}

/// Adds `Connection: close` to a truncated answer, so the cut looks like a dropped connection
/// rather than a finished exchange on a kept-alive one.
pub(crate) fn close_if_truncated(turn: &Turn, mut response: Response) -> Response {
    if turn.truncated() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A streamed body sending `frames` in order with `gap` between them.
pub(crate) fn paced_body(frames: Vec<Bytes>, gap: Duration) -> Body {
    let stream = async_stream::stream! {
        for (index, frame) in frames.into_iter().enumerate() {
            if index > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            yield Ok::<Bytes, Infallible>(frame);
        }
    };
    Body::from_stream(stream)
}
