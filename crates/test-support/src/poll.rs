//! Polling with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` until it returns `Some`, or panics with `what` after `patience`.
pub async fn eventually<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_seen(what, patience, || {
        let checked = check();
        async { checked.await.ok_or_else(String::new) }
    })
    .await
}

/// Calls `check` until it returns `Ok`, or panics with `what` and what the last `Err` said it saw
/// after `patience`.
pub async fn eventually_seen<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + patience;
    let mut interval = Duration::from_millis(5);
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if Instant::now() >= deadline {
            if seen.is_empty() {
                panic!("timed out after {patience:?} waiting for {what}");
            }
            panic!("timed out after {patience:?} waiting for {what}; last seen: {seen}");
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}

/// Polls `url` (plain HTTP) until it answers 2xx, or panics after `patience`.
pub async fn wait_http_ok(url: &str, patience: Duration) {
    let what = format!("{url} to answer 2xx");
    eventually(&what, patience, || async {
        pincer_lifecycle::probe::http_get_ok(url, Duration::from_secs(2))
            .await
            .ok()
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "waiting for the queue to drain; last seen: 2 left")]
    async fn a_wait_that_runs_out_says_what_it_last_saw() {
        eventually_seen("the queue to drain", Duration::from_millis(20), || async {
            Err::<(), _>("2 left".to_owned())
        })
        .await;
    }

    #[tokio::test]
    async fn a_wait_returns_what_the_check_found() {
        let mut calls = 0;
        let found = eventually_seen("the third call", Duration::from_secs(10), || {
            calls += 1;
            let call = calls;
            async move {
                if call == 3 {
                    Ok(call)
                } else {
                    Err(format!("call {call}"))
                }
            }
        })
        .await;
        assert_eq!(found, 3);
    }
}
