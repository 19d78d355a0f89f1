//! Primary → fallbacks. A model is abandoned for the next one only while nothing has been streamed
//! to the caller; once text went out, a failure ends the call (the caller keeps what it got).

use std::time::Duration;

use futures::StreamExt;
use pincer_proto::llm::v1 as pb;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;

use crate::catalog::Catalog;
use crate::providers::{self, CallRequest, ErrorKind, ProviderError, ProviderEvent};

/// Where events go; a closed channel means the caller went away.
pub type Sink = mpsc::Sender<Result<pb::ChatEvent, Status>>;

/// Runs `request` against `candidates` in order until one completes, the deadline passes, or the
/// caller disconnects.
pub async fn run(
    http: &reqwest::Client,
    catalog: &Catalog,
    candidates: &[String],
    request: &CallRequest,
    deadline: Instant,
    sink: &Sink,
) {
    let mut failed: Vec<(String, ProviderError)> = Vec::new();
    for reference in candidates {
        let now = Instant::now();
        if now >= deadline {
            failed.push((
                reference.clone(),
                ProviderError::new(
                    ErrorKind::Timeout,
                    "call deadline reached before this model was tried",
                ),
            ));
            continue;
        }
        let deployment = match catalog.resolve(reference) {
            Ok(deployment) => deployment,
            Err(error) => {
                tracing::warn!(model = %reference, reason = %error, "skipping model");
                failed.push((reference.clone(), error));
                continue;
            }
        };
        let remaining = deadline - now;
        let patience = deployment.attempt_timeout.min(remaining);
        let started = match tokio::time::timeout(
            patience,
            providers::start(http, &deployment, request),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::warn!(model = %reference, kind = ?error.kind, reason = %error, "model failed, trying next");
                failed.push((reference.clone(), error));
                continue;
            }
            Err(_) => {
                let error = ProviderError::new(
                    ErrorKind::Timeout,
                    format!("no response within {patience:?}"),
                );
                tracing::warn!(model = %reference, reason = %error, "model timed out, trying next");
                failed.push((reference.clone(), error));
                continue;
            }
        };
        match relay(
            started,
            &deployment.attempt_timeout,
            deadline,
            reference,
            &failed,
            sink,
        )
        .await
        {
            Relay::Completed | Relay::CallerGone => return,
            Relay::FailedAfterContent(error) => {
                tracing::warn!(model = %reference, reason = %error, "stream broke after content was sent");
                let _ = sink
                    .send(Err(Status::unavailable(format!(
                        "{reference} failed after partial output: {error}"
                    ))))
                    .await;
                return;
            }
            Relay::FailedBeforeContent(error) => {
                tracing::warn!(model = %reference, kind = ?error.kind, reason = %error, "model failed, trying next");
                failed.push((reference.clone(), error));
            }
        }
    }
    let _ = sink.send(Err(all_failed_status(&failed))).await;
}

enum Relay {
    Completed,
    CallerGone,
    FailedBeforeContent(ProviderError),
    FailedAfterContent(ProviderError),
}

async fn relay(
    mut stream: providers::EventStream,
    idle_limit: &Duration,
    deadline: Instant,
    reference: &str,
    failed: &[(String, ProviderError)],
    sink: &Sink,
) -> Relay {
    use pb::chat_event::Event;
    let mut delivered = false;
    loop {
        let now = Instant::now();
        let patience = (*idle_limit).min(deadline.saturating_duration_since(now));
        let next = match tokio::time::timeout(patience, stream.next()).await {
            Ok(next) => next,
            Err(_) => Some(Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("no data from the provider for {patience:?}"),
            ))),
        };
        let event = match next {
            Some(Ok(ProviderEvent::Text(text))) => Event::Delta(pb::TextDelta { text }),
            Some(Ok(ProviderEvent::ToolCall(call))) => Event::ToolCall(pb::ToolCall {
                id: call.id,
                name: call.name,
                arguments_json: call.arguments,
            }),
            Some(Ok(ProviderEvent::Finish { reason, usage })) => {
                let done = pb::Done {
                    model: reference.to_owned(),
                    finish_reason: reason,
                    usage: Some(pb::Usage {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    }),
                    failed_attempts: failed
                        .iter()
                        .map(|(model, error)| pb::FailedAttempt {
                            model: model.clone(),
                            reason: error.to_string(),
                        })
                        .collect(),
                };
                let _ = sink
                    .send(Ok(pb::ChatEvent {
                        event: Some(Event::Done(done)),
                    }))
                    .await;
                return Relay::Completed;
            }
            Some(Err(error)) if delivered => return Relay::FailedAfterContent(error),
            Some(Err(error)) => return Relay::FailedBeforeContent(error),
            None => {
                let error =
                    ProviderError::new(ErrorKind::StreamBroken, "stream ended without a finish");
                return if delivered {
                    Relay::FailedAfterContent(error)
                } else {
                    Relay::FailedBeforeContent(error)
                };
            }
        };
        delivered = true;
        if sink
            .send(Ok(pb::ChatEvent { event: Some(event) }))
            .await
            .is_err()
        {
            tracing::info!(model = %reference, "caller went away, cancelling the provider call");
            return Relay::CallerGone;
        }
    }
}

/// The status returned when no model could serve: the code reflects the dominant cause so the
/// caller can tell "fix your keys" from "try later".
fn all_failed_status(failed: &[(String, ProviderError)]) -> Status {
    if failed.is_empty() {
        return Status::invalid_argument("no model configured for this call");
    }
    let summary = failed
        .iter()
        .map(|(model, error)| format!("{model}: {error}"))
        .collect::<Vec<_>>()
        .join("; ");
    let message = format!("all models failed: {summary}");
    let every = |kinds: &[ErrorKind]| failed.iter().all(|(_, e)| kinds.contains(&e.kind));
    if every(&[ErrorKind::Auth, ErrorKind::QuotaExhausted]) {
        Status::permission_denied(message)
    } else if every(&[ErrorKind::BadRequest, ErrorKind::ContextOverflow]) {
        Status::invalid_argument(message)
    } else if every(&[ErrorKind::Timeout]) {
        Status::deadline_exceeded(message)
    } else {
        Status::unavailable(message)
    }
}
