//! Polling with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` until it returns `Some`, or panics with `what` after `patience`.
pub async fn eventually<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    let mut interval = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}"
        );
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
