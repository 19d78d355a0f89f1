//! Connecting to NATS. Services start in any order, so the first connection is retried until a
//! deadline; after that async-nats reconnects on its own for as long as the process lives.

use std::time::{Duration, Instant};

use crate::Error;

/// How long a service waits for NATS at startup before giving up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// Connects to `url` as `name`, retrying until `patience` runs out.
pub async fn connect(
    url: &str,
    name: &str,
    patience: Duration,
) -> Result<async_nats::Client, Error> {
    let deadline = Instant::now() + patience;
    let mut backoff = Duration::from_millis(10);
    loop {
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(Duration::from_secs(5)));
        let reason = match options.connect(url).await {
            Ok(client) => return Ok(client),
            Err(error) => error.to_string(),
        };
        if Instant::now() + backoff > deadline {
            return Err(Error::Connect {
                url: url.to_owned(),
                reason,
            });
        }
        tracing::debug!(%url, %reason, "nats not reachable yet, retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(250));
    }
}
