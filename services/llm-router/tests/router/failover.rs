//! Failover against fake providers: one test per row of the failure classification, and the rules
//! that keep users' trust (no replay after output, terminal errors, key rotation, cooldowns).

use std::time::{Duration, Instant};

use crate::support::{Router, attempt_kind, chats, failing, fake, request};
use pincer_fake_provider::{Failure, Knobs, RunningFake};
use pincer_proto::llm::v1 as pb;
use serde_json::{Value, json};

fn ollama(fake: &RunningFake) -> Value {
    json!({"api": "ollama", "baseUrl": fake.base_url(), "models": [{"id": "m", "contextWindow": 131072}]})
}

fn openai(fake: &RunningFake) -> Value {
    json!({"api": "openai-completions", "baseUrl": format!("{}/v1", fake.base_url()), "apiKey": "k",
           "models": [{"id": "m", "contextWindow": 131072}]})
}

fn two(primary: Value, backup: Value) -> Value {
    json!({"providers": {"primary": primary, "backup": backup}})
}

async fn pair(primary: Knobs) -> (RunningFake, RunningFake, Router) {
    let primary = fake(primary).await;
    let backup = fake(Knobs::default()).await;
    let router = Router::start(two(ollama(&primary), ollama(&backup))).await;
    (primary, backup, router)
}

#[tokio::test]
async fn transient_statuses_fall_back_and_are_classified() {
    for (status, kind) in [
        (429, pb::ErrorKind::RateLimited),
        (500, pb::ErrorKind::Upstream),
        (502, pb::ErrorKind::Upstream),
        (503, pb::ErrorKind::Overloaded),
        (529, pb::ErrorKind::Overloaded),
        (504, pb::ErrorKind::Timeout),
        (401, pb::ErrorKind::Auth),
        (403, pb::ErrorKind::Auth),
        (402, pb::ErrorKind::QuotaExhausted),
        (404, pb::ErrorKind::NotFound),
    ] {
        let (primary, backup, router) = pair(failing(status)).await;
        let outcome = router.chat(request("primary/m", &["backup/m"])).await;
        let done = outcome.done();
        assert_eq!(done.model, "backup/m", "HTTP {status} must fall back");
        assert_eq!(done.requested_model, "primary/m");
        assert_eq!(done.failed_attempts.len(), 1);
        assert_eq!(
            attempt_kind(&done.failed_attempts[0]),
            kind,
            "HTTP {status}"
        );
        assert!(!outcome.text.is_empty());
        assert_eq!(chats(&backup), 1);
        // Retryable kinds get one more try on the same model; the others go straight on.
        let retryable = matches!(
            kind,
            pb::ErrorKind::RateLimited
                | pb::ErrorKind::Upstream
                | pb::ErrorKind::Overloaded
                | pb::ErrorKind::Timeout
        );
        assert_eq!(
            done.failed_attempts[0].tries,
            if retryable { 2 } else { 1 },
            "HTTP {status}"
        );
        let _ = primary;
        router.stop().await;
    }
}

#[tokio::test]
async fn a_short_retry_after_is_waited_for_on_the_same_model() {
    let knobs = Knobs {
        fail: Some(Failure {
            status: 429,
            times: Some(1),
            retry_after_secs: Some(1),
            ..Failure::default()
        }),
        ..Knobs::default()
    };
    let (_primary, backup, router) = pair(knobs).await;
    let started = Instant::now();
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.done().model, "primary/m");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 must be honoured before the retry"
    );
    assert_eq!(chats(&backup), 0);
    router.stop().await;
}

#[tokio::test]
async fn a_long_retry_after_moves_on_at_once_and_cools_the_model_that_long() {
    let knobs = Knobs {
        fail: Some(Failure {
            status: 429,
            retry_after_secs: Some(90),
            ..Failure::default()
        }),
        ..Knobs::default()
    };
    let (primary, _backup, router) = pair(knobs).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.done().model, "backup/m");
    assert_eq!(outcome.done().failed_attempts[0].tries, 1);
    let status = router.status().await;
    let model = status
        .models
        .iter()
        .find(|m| m.id == "primary/m")
        .expect("listed");
    let health = model.health.as_ref().expect("health");
    assert_eq!(health.state(), pb::BreakerState::Open);
    assert!(health.cooldown_until_unix_ms >= pincer_clock::now_ms() + 80_000);
    assert_eq!(health.last_error_kind(), pb::ErrorKind::RateLimited);

    // The next call skips the cooling model without sending it anything.
    let before = primary.stats().chat;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    let done = outcome.done();
    assert_eq!(done.model, "backup/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::CoolingDown
    );
    assert_eq!(primary.stats().chat, before);
    router.stop().await;
}

#[tokio::test]
async fn context_overflow_is_terminal_and_typed() {
    let knobs = Knobs {
        fail: Some(Failure {
            status: 400,
            body: Some(r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#.to_owned()),
            ..Failure::default()
        }),
        ..Knobs::default()
    };
    let (_primary, backup, router) = pair(knobs).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.code, Some(tonic::Code::InvalidArgument));
    assert_eq!(outcome.kind(), pb::ErrorKind::ContextOverflow);
    assert_eq!(
        chats(&backup),
        0,
        "an overflow would fail the same way elsewhere"
    );
    router.stop().await;
}

#[tokio::test]
async fn an_invalid_request_never_falls_back() {
    let (_primary, backup, router) = pair(failing(400)).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.kind(), pb::ErrorKind::BadRequest);
    assert_eq!(outcome.failure().attempts[0].tries, 1);
    assert_eq!(chats(&backup), 0);
    router.stop().await;
}

#[tokio::test]
async fn a_dead_port_is_a_transport_failure_that_cools_the_provider() {
    let backup = fake(Knobs::default()).await;
    let dead = format!("http://127.0.0.1:{}", pincer_test_support::free_port());
    let router = Router::start(two(
        json!({"api": "ollama", "baseUrl": dead, "models": [{"id": "m"}]}),
        ollama(&backup),
    ))
    .await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    let done = outcome.done();
    assert_eq!(done.model, "backup/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::Transport
    );
    assert!(
        done.failed_attempts[0].reason.contains("refused"),
        "{}",
        done.failed_attempts[0].reason
    );
    let status = router.status().await;
    let provider = status
        .providers
        .iter()
        .find(|p| p.id == "primary")
        .expect("listed");
    assert_eq!(
        provider.health.as_ref().expect("health").state(),
        pb::BreakerState::Open
    );
    router.stop().await;
}

#[tokio::test]
async fn a_slow_first_byte_times_out_and_falls_back() {
    let primary = fake(Knobs {
        delay_ms: 5_000,
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let mut slow = ollama(&primary);
    slow["firstTokenTimeoutSeconds"] = json!(1);
    let router = Router::start(two(slow, ollama(&backup))).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    let done = outcome.done();
    assert_eq!(done.model, "backup/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::Timeout
    );
    assert!(done.failed_attempts[0].reason.contains("first"));
    router.stop().await;
}

#[tokio::test]
async fn a_stream_cut_after_output_is_reported_and_never_replayed() {
    for knobs in [
        Knobs {
            truncate: true,
            ..Knobs::default()
        },
        Knobs {
            fail: Some(Failure {
                status: 503,
                mid_stream: true,
                ..Failure::default()
            }),
            ..Knobs::default()
        },
    ] {
        let (primary, backup, router) = pair(knobs.clone()).await;
        let outcome = router.chat(request("primary/m", &["backup/m"])).await;
        assert!(!outcome.text.is_empty(), "partial output was streamed");
        assert!(outcome.done.is_none());
        let failure = outcome.failure();
        assert!(failure.after_output, "{knobs:?}");
        assert_eq!(outcome.code, Some(tonic::Code::Unavailable));
        assert_eq!(chats(&primary), 1, "no retry after output ({knobs:?})");
        assert_eq!(chats(&backup), 0, "no fallback after output ({knobs:?})");
        router.stop().await;
    }
}

#[tokio::test]
async fn a_truncated_stream_before_any_output_falls_back() {
    // An OpenAI stream that ends without finish_reason or [DONE] and with no text at all.
    let primary = fake(Knobs {
        truncate: true,
        tokens: 0,
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let router = Router::start(two(openai(&primary), ollama(&backup))).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert_eq!(outcome.done().model, "backup/m");
    assert_eq!(
        attempt_kind(&outcome.done().failed_attempts[0]),
        pb::ErrorKind::StreamBroken
    );
    router.stop().await;
}

#[tokio::test]
async fn api_keys_rotate_before_falling_back() {
    let primary = fake(Knobs {
        api_key: Some("good-key".into()),
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let mut keyed = openai(&primary);
    keyed["apiKey"] = json!("revoked-key");
    keyed["apiKeys"] = json!(["good-key"]);
    let router = Router::start(two(keyed, ollama(&backup))).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    let done = outcome.done();
    assert_eq!(done.model, "primary/m");
    assert!(done.failed_attempts.is_empty());
    assert_eq!(chats(&backup), 0);
    let served = primary.requests();
    assert_eq!(
        served.last().and_then(|r| r.headers.get("authorization")),
        Some(&"Bearer good-key".to_owned())
    );
    let status = router.status().await;
    let provider = status
        .providers
        .iter()
        .find(|p| p.id == "primary")
        .expect("listed");
    assert_eq!(provider.keys.len(), 2);
    assert_eq!(provider.keys[0].state(), pb::BreakerState::Open);
    assert_eq!(provider.keys[0].last_error_kind(), pb::ErrorKind::Auth);
    assert_eq!(provider.keys[1].state(), pb::BreakerState::Closed);
    let text = format!("{status:?}");
    assert!(!text.contains("revoked-key") && !text.contains("good-key"));
    router.stop().await;
}

#[tokio::test]
async fn every_key_rejected_then_falls_back_with_permission_details() {
    let primary = fake(Knobs {
        api_key: Some("right".into()),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"primary": openai(&primary)}})).await;
    let outcome = router.chat(request("primary/m", &[])).await;
    assert_eq!(outcome.code, Some(tonic::Code::PermissionDenied));
    assert_eq!(outcome.kind(), pb::ErrorKind::Auth);
    assert!(!outcome.failure().message.contains("Bearer"));
    router.stop().await;
}

#[tokio::test]
async fn the_context_guard_skips_models_whose_window_is_too_small() {
    let primary = fake(Knobs::default()).await;
    let backup = fake(Knobs::default()).await;
    let mut small = ollama(&primary);
    small["models"][0]["contextWindow"] = json!(1000);
    let router = Router::start(two(small, ollama(&backup))).await;
    let mut big = request("primary/m", &["backup/m"]);
    big.messages[0].content = "word ".repeat(2000);
    let outcome = router.chat(big.clone()).await;
    let done = outcome.done();
    assert_eq!(done.model, "backup/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::ContextOverflow
    );
    assert_eq!(chats(&primary), 0, "a prompt that cannot fit is not sent");

    big.fallbacks.clear();
    let outcome = router.chat(big).await;
    assert_eq!(outcome.kind(), pb::ErrorKind::ContextOverflow);
    assert_eq!(outcome.code, Some(tonic::Code::InvalidArgument));
    router.stop().await;
}

#[tokio::test]
async fn when_every_model_is_cooling_the_earliest_is_still_tried() {
    let primary = fake(Knobs {
        fail: Some(Failure {
            status: 503,
            times: Some(2),
            ..Failure::default()
        }),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"primary": ollama(&primary)}})).await;
    let outcome = router.chat(request("primary/m", &[])).await;
    assert_eq!(outcome.kind(), pb::ErrorKind::Overloaded);
    // The model is now cooling down, and it is the only one: it is tried anyway, and it recovered.
    let outcome = router.chat(request("primary/m", &[])).await;
    let done = outcome.done();
    assert_eq!(done.model, "primary/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::CoolingDown
    );
    let status = router.status().await;
    let model = status
        .models
        .iter()
        .find(|m| m.id == "primary/m")
        .expect("listed");
    assert_eq!(
        model.health.as_ref().expect("health").state(),
        pb::BreakerState::Closed,
        "a success closes the breaker"
    );
    assert!(model.last_served_unix_ms > 0);
    router.stop().await;
}

#[tokio::test]
async fn an_unknown_provider_is_reported_not_fatal() {
    let backup = fake(Knobs::default()).await;
    let router = Router::start(json!({"providers": {"backup": ollama(&backup)}})).await;
    let outcome = router.chat(request("nowhere/m", &["backup/m"])).await;
    let done = outcome.done();
    assert_eq!(done.model, "backup/m");
    assert_eq!(
        attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::NotFound
    );
    router.stop().await;
}

#[tokio::test]
async fn dns_and_tls_failures_are_transport_failures_named_as_such() {
    let plain_http = fake(Knobs::default()).await;
    let backup = fake(Knobs::default()).await;
    let tls_to_plain = plain_http.base_url().replace("http://", "https://");
    for (base_url, words) in [
        ("http://pincer-no-such-host.invalid:11434".to_owned(), "DNS"),
        (tls_to_plain, "TLS"),
    ] {
        let router = Router::start(two(
            json!({"api": "ollama", "baseUrl": base_url, "models": [{"id": "m"}]}),
            ollama(&backup),
        ))
        .await;
        let outcome = router.chat(request("primary/m", &["backup/m"])).await;
        let done = outcome.done();
        assert_eq!(done.model, "backup/m");
        let attempt = &done.failed_attempts[0];
        assert_eq!(
            attempt_kind(attempt),
            pb::ErrorKind::Transport,
            "{attempt:?}"
        );
        assert!(
            attempt.reason.contains(words),
            "{words}: {}",
            attempt.reason
        );
        router.stop().await;
    }
}

#[tokio::test]
async fn an_idle_gap_after_output_is_a_timeout_and_not_replayed() {
    let primary = fake(Knobs {
        chunk_delay_ms: 3_000,
        tokens: 4,
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let mut stalling = ollama(&primary);
    stalling["idleTimeoutSeconds"] = json!(1);
    let router = Router::start(two(stalling, ollama(&backup))).await;
    let outcome = router.chat(request("primary/m", &["backup/m"])).await;
    assert!(!outcome.text.is_empty());
    let failure = outcome.failure();
    assert!(failure.after_output);
    assert_eq!(outcome.kind(), pb::ErrorKind::Timeout);
    assert!(failure.message.contains("idle"), "{}", failure.message);
    assert_eq!(chats(&backup), 0);
    router.stop().await;
}
