//! What every adapter gets from the bridge: the bus, the channel buckets and the bridge-wide
//! settings (session scope, bindings, this replica's name). It makes each account's [`Ingest`]
//! and runs the channel's [`Sender`], so an adapter says only what is its own.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use pincer_bus::Namespace;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Stores;
use super::access::Rules;
use super::ingest::{Ingest, Platform};
use super::outbound::{Sender, Transport};

/// The bridge as one channel sees it; cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// JetStream.
    pub js: jetstream::Context,
    /// Subjects.
    pub ns: Namespace,
    /// The channel buckets.
    pub stores: Stores,
    /// This replica's stable name (lease holder identity).
    pub instance: String,
    /// `session.dmScope: main`.
    pub shared_dm_session: bool,
    /// `bindings`.
    pub bindings: Vec<pincer_config::Binding>,
    /// The tokens the environment gives default accounts.
    pub env_tokens: crate::EnvTokens,
    /// The bridge's metrics.
    pub metrics: crate::metrics::Metrics,
}

impl Context {
    /// The context of the bridge configured by `bridge`.
    pub fn new(
        js: jetstream::Context,
        bridge: &crate::Config,
        stores: Stores,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Self {
            js,
            ns: bridge.namespace.clone(),
            stores,
            instance: bridge.instance.clone(),
            shared_dm_session: bridge.dm_scope.as_deref() == Some("main"),
            bindings: bridge.bindings.clone(),
            env_tokens: bridge.env_tokens.clone(),
            metrics,
        }
    }

    /// The ingest of `account` of `channel` (turn ids tagged `tag`): attachments up to
    /// `media_max_mb`, no live preview, and handled ids remembered, for platforms that may bring
    /// a message again after JetStream's duplicate window.
    pub fn ingest<P: Platform>(
        &self,
        (channel, tag): (&'static str, &'static str),
        account: &str,
        rules: Rules,
        media_max_mb: u32,
        platform: P,
    ) -> Ingest<P> {
        Ingest {
            js: self.js.clone(),
            ns: self.ns.clone(),
            channel,
            tag,
            account: account.to_owned(),
            rules,
            pairing: pincer_store::pairing::Pairing::new(
                self.stores.pairing.clone(),
                channel,
                account,
            ),
            shared_dm_session: self.shared_dm_session,
            bindings: self.bindings.clone(),
            media_max_bytes: u64::from(media_max_mb) * 1024 * 1024,
            media: self.stores.media.clone(),
            streaming: false,
            seen: Some(self.stores.state.clone()),
            metrics: self.metrics.clone(),
            platform,
        }
    }

    /// This replica's lease holder name for `account`.
    pub fn holder(&self, account: &str) -> String {
        format!("{}/{}", self.instance, super::key_token(account))
    }

    /// Sends `channel`'s replies through `accounts` until `shutdown` (a claim older than
    /// `stale_claim` is taken over), then waits for the accounts' own `tasks`.
    pub async fn send_until<T: Transport>(
        &self,
        channel: &'static str,
        accounts: HashMap<String, T>,
        stale_claim: Duration,
        tasks: Vec<JoinHandle<()>>,
        shutdown: CancellationToken,
    ) {
        let sender = Sender {
            channel,
            accounts,
            state: self.stores.state.clone(),
            stale_claim,
            metrics: self.metrics.clone(),
        };
        if let Err(error) = sender
            .run(self.js.clone(), self.ns.clone(), &self.instance, shutdown)
            .await
        {
            tracing::error!(%error, channel, "sending stopped");
        }
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, channel, "an account task ended abnormally");
            }
        }
    }
}
