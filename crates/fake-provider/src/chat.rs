//! The chat pipeline both dialects share: parse, plan, record, fail or wait, then stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use crate::knobs::{Failure, Knobs};
use crate::record::{ChatRecord, RecordedRequest, selected_headers};
use crate::reply::{Plan, plan};
use crate::request::ChatRequest;
use crate::state::FakeState;
use crate::wire_error::{Dialect, error_response, failure_response};

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

    /// The failure to inject inside the stream, if any.
    pub fn mid_stream_failure(&self) -> Option<&Failure> {
        self.knobs.fail.as_ref().filter(|f| f.mid_stream)
    }

    /// How many text chunks go out before a mid-stream error (half, rounded up).
    pub fn chunks_before_error(&self) -> usize {
        self.plan.chunks.len().div_ceil(2)
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

/// Parses and records a chat request, then either answers it with an injected failure or a
/// 400 (`Err`), or waits `delay_ms` and hands back the [`Turn`] to answer.
pub(crate) async fn begin(
    state: &FakeState,
    dialect: Dialect,
    path: &str,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<Turn, Response> {
    let request = ChatRequest::parse(bytes, dialect)
        .map_err(|err| error_response(dialect, StatusCode::BAD_REQUEST, &err.to_string()))?;
    let knobs = state.knobs_for_chat();
    let plan = plan(&request, &knobs);
    let seq = state.recorder().record_chat(ChatRecord {
        request: RecordedRequest {
            path: path.to_owned(),
            body: request.body.clone(),
            headers: selected_headers(headers),
            body_bytes: bytes.len(),
        },
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
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    Ok(Turn {
        request,
        plan,
        knobs,
        seq,
    })
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
