//! Where the events platforms push to the gateway go: the channel inbound stream, under the
//! account's subject, with a message id that makes a platform's retry of the same event harmless.
//! Every webhook ingress stores through this once its caller is checked, and answers the platform
//! only after the store succeeded.

use async_nats::jetstream;
use pincer_bus::Namespace;

/// The inbound stream, once the bus is connected; cheap to clone.
#[derive(Clone, Default)]
pub struct PushedEvents {
    js: Option<jetstream::Context>,
    namespace: Namespace,
}

impl PushedEvents {
    /// Not connected yet: every store fails (the platform retries).
    pub fn new(namespace: Namespace) -> Self {
        Self {
            js: None,
            namespace,
        }
    }

    /// Stores through `js`.
    #[must_use]
    pub fn with_jetstream(mut self, js: jetstream::Context) -> Self {
        self.js = Some(js);
        self
    }

    /// Puts `body` on `channel`'s subject for `account` with message id `id`; the error says why
    /// the bus did not take it.
    pub async fn store(
        &self,
        channel: &str,
        account: &str,
        id: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let js = self.js.as_ref().ok_or_else(|| "not connected".to_owned())?;
        let subject = self.namespace.channel_inbound_account(channel, account);
        pincer_bus::publish::durable(js, subject, id, body.to_vec().into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
