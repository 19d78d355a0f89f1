//! Request recording and counters, for assertions in tests and `GET /stats`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

/// Request headers kept with each recorded chat request (lower-case names).
pub const RECORDED_HEADERS: &[&str] = &[
    "authorization",
    "traceparent",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "http-referer",
    "x-title",
    "x-openrouter-title",
];

/// How many recent chat requests are kept; older ones are dropped (counters keep counting).
pub const MAX_RECORDED: usize = 512;

/// How many body bytes the kept requests may hold together; the oldest go first beyond it (the
/// newest is always kept).
pub const MAX_RECORDED_BYTES: usize = 4 << 20;

/// One chat request as the fake received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// Request path, e.g. `/api/chat`.
    pub path: String,
    /// The parsed JSON body.
    pub body: Value,
    /// The [`RECORDED_HEADERS`] that were present, by lower-case name.
    pub headers: BTreeMap<String, String>,
    /// Body length in bytes.
    pub body_bytes: usize,
}

/// What the chat pipeline learned about one request, handed to [`Recorder::record_chat`].
#[derive(Debug, Clone)]
pub(crate) struct ChatRecord<'a> {
    /// The request, parsed: it becomes [`Stats::last_request`].
    pub request: RecordedRequest,
    /// The body as it arrived, which is what the history keeps.
    pub wire_body: &'a [u8],
    pub stream: bool,
    pub tool_call: bool,
    pub after_tool: bool,
    pub messages: usize,
    pub tool_names: Vec<String>,
}

/// Counters served by `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Every request, any path (including `/stats` itself).
    pub requests: u64,
    /// Chat requests that parsed.
    pub chat: u64,
    /// Chat requests answered as a stream.
    pub chat_stream: u64,
    /// Chat requests answered with a tool call.
    pub tool_calls: u64,
    /// Chat requests whose last message was a tool result.
    pub tool_results_seen: u64,
    /// Chat requests answered with an injected failure.
    pub failures: u64,
    /// Requests per path.
    pub by_path: BTreeMap<String, u64>,
    /// Sum of chat body sizes in bytes.
    pub req_bytes_total: u64,
    /// Largest chat body in bytes.
    pub req_bytes_max: u64,
    /// Most messages seen in one chat request.
    pub messages_max: u64,
    /// Most tools offered in one chat request.
    pub tools_max: u64,
    /// Tool names of the first chat request that offered tools.
    pub tool_names: Vec<String>,
    /// The most recent chat request.
    pub last_request: Option<RecordedRequest>,
    /// Chat requests inside their `delay_ms` right now.
    pub delayed_now: u64,
    /// The most chat requests ever inside their `delay_ms` at once: with a delay far longer than
    /// the hops before it, this is how many calls the callers had in flight together.
    pub delayed_max: u64,
}

/// A recent chat request as the history keeps it: its body as it arrived, parsed again only when
/// asked for. A parsed body takes ten times its wire size or more (an agent's request is mostly
/// small objects: messages, tool schemas): 512 of them outgrew the demo container's 32 MiB under
/// load, and the kernel killed the fake mid-run.
#[derive(Debug)]
struct Kept {
    path: String,
    headers: BTreeMap<String, String>,
    body: Box<[u8]>,
}

impl Kept {
    fn recorded(&self) -> RecordedRequest {
        RecordedRequest {
            path: self.path.clone(),
            // It parsed when it arrived, so it parses again.
            body: serde_json::from_slice(&self.body).unwrap_or(Value::Null),
            headers: self.headers.clone(),
            body_bytes: self.body.len(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    stats: Stats,
    chats: VecDeque<Kept>,
    /// Sum of the body lengths in `chats`.
    chat_bytes: usize,
}

/// Thread-safe store of counters and recent chat requests.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent enough to matter.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request to `path`.
    pub fn hit(&self, path: &str) {
        let mut inner = self.lock();
        inner.stats.requests += 1;
        *inner.stats.by_path.entry(path.to_owned()).or_default() += 1;
    }

    /// Records one parsed chat request; returns its sequence number (1-based), used in ids.
    pub(crate) fn record_chat(&self, record: ChatRecord<'_>) -> u64 {
        let mut inner = self.lock();
        let stats = &mut inner.stats;
        stats.chat += 1;
        stats.chat_stream += u64::from(record.stream);
        stats.tool_calls += u64::from(record.tool_call);
        stats.tool_results_seen += u64::from(record.after_tool);
        let bytes = u64::try_from(record.request.body_bytes).unwrap_or(u64::MAX);
        stats.req_bytes_total = stats.req_bytes_total.saturating_add(bytes);
        stats.req_bytes_max = stats.req_bytes_max.max(bytes);
        stats.messages_max = stats.messages_max.max(record.messages as u64);
        stats.tools_max = stats.tools_max.max(record.tool_names.len() as u64);
        if stats.tool_names.is_empty() && !record.tool_names.is_empty() {
            stats.tool_names = record.tool_names;
        }
        let seq = stats.chat;
        let kept = Kept {
            path: record.request.path.clone(),
            headers: record.request.headers.clone(),
            body: record.wire_body.into(),
        };
        stats.last_request = Some(record.request);
        inner.chat_bytes = inner.chat_bytes.saturating_add(kept.body.len());
        inner.chats.push_back(kept);
        while inner.chats.len() > 1
            && (inner.chats.len() > MAX_RECORDED || inner.chat_bytes > MAX_RECORDED_BYTES)
            && let Some(dropped) = inner.chats.pop_front()
        {
            inner.chat_bytes = inner.chat_bytes.saturating_sub(dropped.body.len());
        }
        seq
    }

    /// Marks a chat request as waiting out its delay until the guard is dropped.
    pub(crate) fn delayed(&self) -> Delayed<'_> {
        let mut inner = self.lock();
        inner.stats.delayed_now += 1;
        inner.stats.delayed_max = inner.stats.delayed_max.max(inner.stats.delayed_now);
        Delayed(self)
    }

    /// Counts one injected failure.
    pub(crate) fn count_failure(&self) {
        self.lock().stats.failures += 1;
    }

    /// The recorded chat requests, oldest first (at most [`MAX_RECORDED`], and
    /// [`MAX_RECORDED_BYTES`] of bodies).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().chats.iter().map(Kept::recorded).collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Forgets all counters and recorded requests.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }
}

/// A chat request waiting out its delay (see [`Recorder::delayed`]).
pub(crate) struct Delayed<'a>(&'a Recorder);

impl Drop for Delayed<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.stats.delayed_now = inner.stats.delayed_now.saturating_sub(1);
    }
}

/// Picks the [`RECORDED_HEADERS`] out of a request's headers (values decoded lossily).
pub(crate) fn selected_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    RECORDED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?;
            Some((
                (*name).to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize, wire_body: &[u8]) -> ChatRecord<'_> {
        ChatRecord {
            request: RecordedRequest {
                path: "/api/chat".to_owned(),
                body: serde_json::from_slice(wire_body).unwrap_or(Value::Null),
                headers: BTreeMap::new(),
                body_bytes: wire_body.len(),
            },
            wire_body,
            stream: n.is_multiple_of(2),
            tool_call: false,
            after_tool: false,
            messages: n,
            tool_names: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_most_recent_requests_and_counts_all() {
        let recorder = Recorder::new();
        for n in 0..MAX_RECORDED + 3 {
            recorder.record_chat(record(n, format!("{{\"n\":{n}}}").as_bytes()));
        }
        let requests = recorder.requests();
        assert_eq!(requests.len(), MAX_RECORDED);
        assert_eq!(requests[0].body, serde_json::json!({"n": 3}));
        assert_eq!(requests[0].body_bytes, r#"{"n":3}"#.len());
        let stats = recorder.stats();
        assert_eq!(stats.chat, (MAX_RECORDED + 3) as u64);
        let newest = format!(r#"{{"n":{}}}"#, MAX_RECORDED + 2);
        assert_eq!(stats.req_bytes_max, newest.len() as u64);
        let last = stats.last_request.expect("the newest request");
        assert_eq!(last.body, serde_json::json!({"n": MAX_RECORDED + 2}));
        recorder.reset();
        assert!(recorder.requests().is_empty());
        assert_eq!(recorder.stats(), Stats::default());
    }

    #[test]
    fn drops_the_oldest_requests_beyond_the_byte_budget_but_keeps_the_newest() {
        let recorder = Recorder::new();
        let quarter = |n: usize| format!("[{n}{}]", " ".repeat(MAX_RECORDED_BYTES / 4 - 3));
        for n in 0..6 {
            recorder.record_chat(record(n, quarter(n).as_bytes()));
        }
        let kept: Vec<Value> = recorder.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(kept, [2, 3, 4, 5].map(|n| serde_json::json!([n])));
        let huge = format!("[9{}]", " ".repeat(MAX_RECORDED_BYTES * 2));
        recorder.record_chat(record(9, huge.as_bytes()));
        let kept: Vec<Value> = recorder.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(kept, [serde_json::json!([9])]);
        assert_eq!(recorder.stats().chat, 7);
    }

    #[test]
    fn selects_only_known_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", "00-abc-def-01".parse().unwrap());
        headers.insert("x-other", "nope".parse().unwrap());
        let selected = selected_headers(&headers);
        assert_eq!(selected.len(), 1);
        assert_eq!(selected["traceparent"], "00-abc-def-01");
    }
}
