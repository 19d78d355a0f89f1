//! A deterministic fake model provider speaking the Ollama, OpenAI and Anthropic wire formats
//! on one port, for tests, benchmarks and containers.
//!
//! Replies are `tokens` words (`alpha bravo charlie ...`, cycling) streamed one word per chunk
//! after `delay_ms`, or a tool call, or an echo of the request, or an injected failure, as
//! set by [`Knobs`]; the same plan is answered in each wire's shape. Knobs also cut replies
//! short without their finish marker (`truncate`), require an API key (`api_key`), report
//! cached prompt tokens (`cached_tokens`) and hide Ollama's tools capability
//! (`no_tools_capability`). They change at run time through [`RunningFake::set_knobs`] or
//! `POST /control`; every chat request is counted, and the recent ones are kept for assertions
//! (as they arrived, within a byte budget: the demo container has 32 MiB).
//!
//! Routes:
//! - Ollama: `POST /api/chat` (NDJSON stream unless `"stream": false`), `GET /api/tags`,
//!   `POST /api/show`, `GET /api/ps`, `GET /api/version`, `POST /api/embed`.
//! - OpenAI: `POST /v1/chat/completions` (SSE with `"stream": true`), `GET /v1/models`,
//!   `GET /v1/models/{id}`, `POST /v1/embeddings`; also without the `/v1` prefix. The model
//!   list shows `model` and `listed_models`, in cards that also carry OpenRouter's fields.
//! - OpenRouter: `GET /v1/key` (and `/key`), which checks the key as OpenRouter's does.
//! - Anthropic: `POST /v1/messages` and `POST /messages` (SSE with named events with
//!   `"stream": true`). Requires `anthropic-version`, and checks the body as the API does
//!   (`max_tokens`, roles, block shapes, `tool_use`/`tool_result` pairing, unique `tool_use`
//!   ids, no sampling parameters from version `2026-10-21`); the key may come as `x-api-key` or
//!   `Bearer`. With `thinking` enabled an answer starts with a signed thinking block, which a
//!   tool loop must send back unchanged.
//! - Fake: `GET /health`, `GET /stats`, `POST /stats/reset`, `GET|POST /control`.
//!
//! Embeddings come from [`embedding`]: a hashed bag of words over everyday synonym groups, so
//! paraphrases land close together (deterministic, no model).
//!
//! Layout: [`knobs`] (behaviour), `embed` (the embedding routes), `request` (body checks), `anthropic_request` (Anthropic's
//! extra checks), `anthropic_thinking` (signed thinking blocks), `auth` (the `api_key` check), `reply` (what to answer), `chat` (shared
//! pipeline), `ollama`, `openai` and `anthropic` (wire formats), `wire_error` (error bodies),
//! [`record`] (recorder), `state`, `server` (router), `running` (in-process server),
//! [`health`] (probe for container health checks).
//!
//! ```no_run
//! # async fn demo() -> Result<(), pincer_fake_provider::Error> {
//! use pincer_fake_provider::{FakeProvider, Knobs};
//! let fake = FakeProvider::start(Knobs::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! let base = fake.base_url(); // point a client at `{base}/v1` or `{base}`
//! fake.set_knobs(Knobs { echo: true, ..Knobs::default() });
//! # Ok(()) }
//! ```

mod anthropic;
mod anthropic_request;
mod anthropic_thinking;
mod auth;
mod chat;
mod embed;
pub mod embedding;
pub mod health;
pub mod knobs;
mod ollama;
mod openai;
mod pull;
pub mod record;
mod reply;
mod request;
mod running;
mod server;
mod state;
mod wire_error;

pub use knobs::{Failure, KnobError, Knobs, ScriptStep, ScriptedTool, ToolMode};
pub use record::{RecordedRequest, Recorder, Stats};
pub use reply::WORDS;
pub use running::{Error, FakeProvider, RunningFake};
pub use server::{MAX_BODY_BYTES, router};
pub use state::FakeState;
