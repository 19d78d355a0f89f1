//! Webhook ingress for channels: `POST /telegram-webhook/<account>`. The request must carry the
//! account's `X-Telegram-Bot-Api-Secret-Token` (compared in constant time); the update is put on
//! JetStream (message id from its `update_id`, so Telegram's retries are harmless) and only then
//! answered 200. Telegram retries anything else, so nothing accepted is lost.

use std::collections::BTreeMap;

use crate::pushed::PushedEvents;

/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Webhook secrets by account, and where updates go.
#[derive(Clone)]
pub struct Webhooks {
    secrets: BTreeMap<String, pincer_config::Secret>,
    pushed: PushedEvents,
}

/// Why an update was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No webhook is configured for this account.
    #[error("no telegram webhook for account {0:?}")]
    UnknownAccount(String),
    /// The secret header is missing or wrong.
    #[error("bad or missing {SECRET_HEADER}")]
    BadSecret,
    /// The body is not an update.
    #[error("the body is not a telegram update: {0}")]
    NotAnUpdate(String),
    /// JetStream did not take it (Telegram will retry).
    #[error("message bus unavailable: {0}")]
    Bus(String),
}

impl Webhooks {
    /// `secrets` by account; nothing is accepted for an account without one.
    pub fn new(secrets: BTreeMap<String, pincer_config::Secret>, pushed: PushedEvents) -> Self {
        Self { secrets, pushed }
    }

    /// Checks the secret header of a call for `account` (from the headers alone, before the body is
    /// read).
    pub fn check_secret(&self, account: &str, secret: Option<&str>) -> Result<(), WebhookError> {
        let expected = self
            .secrets
            .get(account)
            .ok_or_else(|| WebhookError::UnknownAccount(account.to_owned()))?;
        let presented = secret.unwrap_or_default().as_bytes();
        if !pincer_service_auth::same_secret(presented, expected.expose().as_bytes()) {
            tracing::warn!(account, "telegram webhook call with a bad secret refused");
            return Err(WebhookError::BadSecret);
        }
        Ok(())
    }

    /// Checks and stores one update.
    pub async fn receive(
        &self,
        account: &str,
        secret: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        self.check_secret(account, secret)?;
        let update_id = update_id_of(body)?;
        let id = format!("tgu-{account}-{update_id}");
        self.pushed
            .store("telegram", account, &id, body)
            .await
            .map_err(WebhookError::Bus)
    }
}

/// The `update_id` of a webhook body, which must be a JSON object holding one (it names the
/// update for deduplication; the channel-bridge reads the rest).
pub fn update_id_of(body: &[u8]) -> Result<i64, WebhookError> {
    let update: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotAnUpdate(e.to_string()))?;
    update
        .get("update_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| WebhookError::NotAnUpdate("no update_id".to_owned()))
}

/// The webhook secrets from `channels.telegram` (top-level and `accounts`) for accounts that set a
/// `webhookUrl`. A webhook without a secret, or whose secret variable is not set for the gateway,
/// is a configuration error: an unauthenticated ingress would let anyone talk to the agent.
pub fn secrets_from_config(
    channels: &pincer_config::Channels,
) -> Result<BTreeMap<String, pincer_config::Secret>, String> {
    let mut out = BTreeMap::new();
    let Some(telegram) = channels.telegram.as_ref().filter(|t| t.enabled) else {
        return Ok(out);
    };
    // The gateway never needs the bot tokens: any placeholder makes the accounts resolve.
    let placeholder = pincer_config::Secret::new("0:gateway");
    for (account, settings) in telegram.resolved_accounts(Some(&placeholder)) {
        if settings.webhook_url.as_deref().is_none_or(str::is_empty) {
            continue;
        }
        match settings
            .webhook_secret
            .filter(|s| !s.is_empty() && !s.expose().contains("${"))
        {
            Some(secret) => {
                out.insert(account, secret);
            }
            None => {
                return Err(format!(
                    "channels.telegram ({account}) sets webhookUrl but no usable webhookSecret for the gateway (set it, e.g. \"${{TELEGRAM_WEBHOOK_SECRET}}\", and pass that variable to the gateway)"
                ));
            }
        }
    }
    Ok(out)
}
