//! Signal: SCAFFOLD, being written.

use tokio_util::sync::CancellationToken;

/// Checks an enabled `channels.signal` has what it needs.
pub fn validate(_config: &pincer_config::Signal) -> Result<(), String> {
    Ok(())
}

/// Runs every account of `config` until `shutdown`.
pub async fn run(
    _js: async_nats::jetstream::Context,
    _bridge: crate::Config,
    _config: pincer_config::Signal,
    _stores: crate::channel::Stores,
    shutdown: CancellationToken,
) {
    shutdown.cancelled().await;
}
