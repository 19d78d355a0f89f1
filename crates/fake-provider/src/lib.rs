//! A deterministic fake model provider speaking the Ollama and OpenAI wire formats on one
//! port, for tests, benchmarks and containers.
//!
//! Replies are `tokens` words (`alpha bravo charlie ...`, cycling) streamed one word per chunk
//! after `delay_ms`, or a tool call, or an echo of the request, or an injected failure, as
//! set by [`Knobs`]. Knobs change at run time through [`RunningFake::set_knobs`] or
//! `POST /control`; every chat request is recorded for assertions.
//!
//! Routes:
//! - Ollama: `POST /api/chat` (NDJSON stream unless `"stream": false`), `GET /api/tags`,
//!   `POST /api/show`, `GET /api/ps`, `GET /api/version`.
//! - OpenAI: `POST /v1/chat/completions` (SSE with `"stream": true`), `GET /v1/models`,
//!   `GET /v1/models/{id}`; also without the `/v1` prefix.
//! - Fake: `GET /health`, `GET /stats`, `POST /stats/reset`, `GET|POST /control`.
//!
//! Layout: [`knobs`] (behaviour), `request` (body checks), `reply` (what to answer),
//! `chat` (shared pipeline), `ollama` and `openai` (wire formats), `wire_error` (error
//! bodies), [`record`] (recorder), `state`, `server` (router), `running` (in-process server),
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

mod chat;
mod clock;
pub mod health;
pub mod knobs;
mod ollama;
mod openai;
pub mod record;
mod reply;
mod request;
mod running;
mod server;
mod state;
mod wire_error;

pub use knobs::{Failure, KnobError, Knobs, ToolMode};
pub use record::{RecordedRequest, Recorder, Stats};
pub use reply::WORDS;
pub use running::{Error, FakeProvider, RunningFake};
pub use server::{MAX_BODY_BYTES, router};
pub use state::FakeState;
