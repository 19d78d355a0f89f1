//! Discord's rate limits for message routes: a bucket per (route, channel) with the
//! `X-RateLimit-*` headers on every answer, 429s shaped like Discord's, and the forced failures
//! tests ask for.

use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::errors::{self, Refusal};
use crate::knobs::TooManyShape;
use crate::snowflake::now_ms;
use crate::state::Bot;

/// Discord names buckets with opaque hashes; one per route here.
fn bucket_name(route: &str) -> String {
    format!("fake{route}bucket0000")
}

/// Counts one request against the bot's bucket for (`route`, `channel`): the headers to answer
/// with, or the 429.
pub fn take(bot: &mut Bot, route: &'static str, channel: &str) -> Result<HeaderMap, Refusal> {
    let limit = bot.knobs.bucket_limit;
    if limit == 0 {
        return Ok(HeaderMap::new());
    }
    let window = Duration::from_millis(bot.knobs.bucket_window_ms.max(1));
    let now = Instant::now();
    let times = bot.buckets.entry((route, channel.to_owned())).or_default();
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
    let reset_after =
        |oldest: Instant| (window.saturating_sub(now.duration_since(oldest))).as_secs_f64();
    if times.len() >= limit as usize {
        let retry_after = times
            .front()
            .map_or(window.as_secs_f64(), |t| reset_after(*t));
        bot.rejected_sends += 1;
        return Err(too_many(
            retry_after,
            false,
            TooManyShape::Full,
            limit,
            &bucket_name(route),
        )
        .into());
    }
    times.push_back(now);
    let remaining = limit as usize - times.len();
    let reset = times.front().map_or(0.0, |t| reset_after(*t));
    Ok(limit_headers(limit, remaining, reset, &bucket_name(route)))
}

/// The failures a test forced with `fail_next` and `rate_limit_next`, if one is due.
pub fn forced(bot: &mut Bot, route: &str) -> Option<Response> {
    if bot.knobs.fail_next > 0 {
        bot.knobs.fail_next -= 1;
        bot.rejected_sends += 1;
        return Some(errors::server_error());
    }
    if bot.knobs.rate_limit_next > 0 {
        bot.knobs.rate_limit_next -= 1;
        bot.rejected_sends += 1;
        let knobs = &bot.knobs;
        let limit = knobs.bucket_limit.max(1);
        return Some(too_many(
            knobs.retry_after,
            knobs.rate_limit_global,
            knobs.rate_limit_shape,
            limit,
            &bucket_name(route),
        ));
    }
    None
}

/// A 429: `{"message","retry_after","global"}` with `Retry-After` (whole seconds, rounded up) and
/// the bucket headers, `X-RateLimit-Scope` and, for the global limit, `X-RateLimit-Global`.
pub fn too_many(
    retry_after: f64,
    global: bool,
    shape: TooManyShape,
    limit: u32,
    bucket: &str,
) -> Response {
    let mut headers = limit_headers(limit, 0, retry_after, bucket);
    insert(
        &mut headers,
        "x-ratelimit-scope",
        if global { "global" } else { "user" },
    );
    if global {
        insert(&mut headers, "x-ratelimit-global", "true");
    }
    if shape != TooManyShape::BodyOnly {
        insert(
            &mut headers,
            "retry-after",
            &(retry_after.ceil() as u64).to_string(),
        );
    }
    if shape == TooManyShape::HeadersOnly {
        return (StatusCode::TOO_MANY_REQUESTS, headers).into_response();
    }
    let body = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global });
    (StatusCode::TOO_MANY_REQUESTS, headers, Json(body)).into_response()
}

fn limit_headers(limit: u32, remaining: usize, reset_after: f64, bucket: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let reset = now_ms() as f64 / 1000.0 + reset_after;
    insert(&mut headers, "x-ratelimit-limit", &limit.to_string());
    insert(
        &mut headers,
        "x-ratelimit-remaining",
        &remaining.to_string(),
    );
    insert(&mut headers, "x-ratelimit-reset", &format!("{reset:.3}"));
    insert(
        &mut headers,
        "x-ratelimit-reset-after",
        &format!("{reset_after:.3}"),
    );
    insert(&mut headers, "x-ratelimit-bucket", bucket);
    headers
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BotUser;

    #[test]
    fn the_sixth_message_in_five_seconds_is_limited() {
        let mut bot = Bot::new(BotUser {
            id: "1".into(),
            username: "b".into(),
            application_id: "1".into(),
        });
        for _ in 0..5 {
            assert!(take(&mut bot, "messages", "c").is_ok());
        }
        let refused = take(&mut bot, "messages", "c").expect_err("limited");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["x-ratelimit-scope"], "user");
        assert!(take(&mut bot, "messages", "other").is_ok());
    }
}
