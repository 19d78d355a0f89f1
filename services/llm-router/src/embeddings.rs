//! One `Embed` call: the model resolved like a chat model, each API key in turn while the
//! failure belongs to the key (auth, quota, or a rate limit when there is another key), within
//! the call's deadline. No fallback model: vectors of two models cannot be compared, so the
//! caller (memory search) would rather search by text alone than mix them. Embedding failures
//! do not open the chat breakers: they say nothing about the provider's chat models.

use tokio::time::Instant;

use crate::failover::Engine;
use crate::failover::events::{Attempt, CallFailure};
use crate::providers::{ErrorKind, ProviderError, embed};

/// Texts per call at most (a batch of this many 3072-dimension vectors fits the response cap).
pub const MAX_INPUTS: usize = 128;
/// Bytes of text per call at most.
pub const MAX_INPUT_BYTES: usize = 2 * 1024 * 1024;

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// One vector per input, in order.
    pub vectors: Vec<Vec<f32>>,
}

/// Embeds `inputs` with `model` (`provider/model`) before `deadline`.
pub async fn run(
    engine: &Engine,
    model: &str,
    inputs: &[String],
    deadline: Instant,
) -> Result<Embedded, CallFailure> {
    if model.trim().is_empty() {
        return Err(CallFailure::refused(
            model,
            "model is required (provider/model)",
        ));
    }
    if inputs.is_empty() {
        return Err(CallFailure::refused(model, "inputs must not be empty"));
    }
    if inputs.len() > MAX_INPUTS {
        return Err(CallFailure::refused(
            model,
            format!("at most {MAX_INPUTS} inputs per call, got {}", inputs.len()),
        ));
    }
    if inputs.iter().map(String::len).sum::<usize>() > MAX_INPUT_BYTES {
        return Err(CallFailure::refused(
            model,
            format!("at most {MAX_INPUT_BYTES} bytes of text per call"),
        ));
    }
    let deployment = engine
        .catalog
        .resolve(model)
        .map_err(|error| fail(model, error, 0))?;
    let keys = deployment.keys.len().max(1);
    let mut tries = 0;
    let mut last = None;
    for index in 0..keys {
        tries += 1;
        let attempt = deployment.with_key(index);
        let outcome = tokio::time::timeout_at(deadline, embed::embed(&attempt, inputs)).await;
        let error = match outcome {
            Ok(Ok(vectors)) => return Ok(Embedded { vectors }),
            Ok(Err(error)) => error,
            Err(_) => ProviderError::new(ErrorKind::Timeout, "the call's deadline passed"),
        };
        let next_key =
            error.kind.is_key_scoped() || (error.kind == ErrorKind::RateLimited && keys > 1);
        last = Some(error);
        if !next_key {
            break;
        }
    }
    let error =
        last.unwrap_or_else(|| ProviderError::new(ErrorKind::Upstream, "no attempt was made"));
    Err(fail(model, error, tries))
}

fn fail(model: &str, error: ProviderError, tries: u32) -> CallFailure {
    tracing::warn!(model, kind = ?error.kind, %error, "embedding failed");
    let attempt = Attempt {
        tries,
        ..Attempt::skipped(model, error)
    };
    CallFailure::new(model, vec![attempt], None)
}
