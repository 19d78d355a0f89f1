//! WhatsApp Cloud API ingress: `/whatsapp-webhook/<account>` (`default` for the top-level number).
//!
//! - `GET`: Meta's verification request. With `hub.mode=subscribe` and the account's
//!   `hub.verify_token` (compared in constant time) the `hub.challenge` is echoed; anything else
//!   is refused.
//! - `POST`: a notification. The account must exist and `X-Hub-Signature-256: sha256=<hex>` be
//!   present before the body is read; the HMAC-SHA256 of the raw body under the app secret is
//!   checked before anything is parsed. The body is put on JetStream whole (its message id is the
//!   body's hash, so Meta's retries of the same notification are dropped) and only then answered
//!   200. Meta retries anything else, so nothing accepted is lost. The channel-bridge reads the
//!   messages and statuses inside.

use std::collections::BTreeMap;

use crate::pushed::PushedEvents;
use serde_json::Value;

/// The header with the body's signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// One number's webhook secrets.
#[derive(Clone, Debug)]
pub struct Number {
    /// The app secret notifications are signed with.
    pub app_secret: pincer_config::Secret,
    /// What Meta's verification request must present.
    pub verify_token: pincer_config::Secret,
}

/// The numbers by account, and where their notifications go.
#[derive(Clone, Default)]
pub struct WhatsAppWebhooks {
    numbers: BTreeMap<String, Number>,
    pushed: PushedEvents,
}

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WhatsAppWebhookError {
    /// No WhatsApp number has this account name.
    #[error("no whatsapp number for account {0:?}")]
    UnknownAccount(String),
    /// The signature is missing, malformed or wrong.
    #[error("bad or missing {SIGNATURE_HEADER}")]
    BadSignature,
    /// A verification request with the wrong mode or token.
    #[error("webhook verification refused: wrong hub.mode or hub.verify_token")]
    NotVerified,
    /// The body is not a WhatsApp notification.
    #[error("the body is not a whatsapp notification: {0}")]
    NotANotification(String),
    /// JetStream did not take it (Meta will retry).
    #[error("message bus unavailable: {0}")]
    Bus(String),
}

impl WhatsAppWebhooks {
    /// `numbers` by account; nothing is accepted for an account without one.
    pub fn new(numbers: BTreeMap<String, Number>, pushed: PushedEvents) -> Self {
        Self { numbers, pushed }
    }

    fn number(&self, account: &str) -> Result<&Number, WhatsAppWebhookError> {
        self.numbers
            .get(account)
            .ok_or_else(|| WhatsAppWebhookError::UnknownAccount(account.to_owned()))
    }

    /// Answers Meta's verification request: the challenge, when mode and token are right.
    pub fn verify(
        &self,
        account: &str,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, WhatsAppWebhookError> {
        let number = self.number(account)?;
        let token_ok = pincer_service_auth::same_secret(
            token.unwrap_or_default().as_bytes(),
            number.verify_token.expose().as_bytes(),
        );
        match (mode, challenge) {
            (Some("subscribe"), Some(challenge)) if token_ok => Ok(challenge.to_owned()),
            _ => {
                tracing::warn!(account, "whatsapp webhook verification refused");
                Err(WhatsAppWebhookError::NotVerified)
            }
        }
    }

    /// What can be checked from the headers alone, before the body is read: the account exists
    /// and a signature of the right shape is present.
    pub fn check_headers(
        &self,
        account: &str,
        signature: Option<&str>,
    ) -> Result<(), WhatsAppWebhookError> {
        self.number(account)?;
        match signature.and_then(|s| s.trim().strip_prefix("sha256=")) {
            Some(hex) if hex.len() == 64 => Ok(()),
            _ => Err(WhatsAppWebhookError::BadSignature),
        }
    }

    /// Checks and stores one notification.
    pub async fn receive(
        &self,
        account: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WhatsAppWebhookError> {
        self.check_headers(account, signature)?;
        let number = self.number(account)?;
        let hex = signature
            .and_then(|s| s.trim().strip_prefix("sha256="))
            .unwrap_or_default();
        if !crate::signature::hmac_sha256_hex_matches(
            number.app_secret.expose().as_bytes(),
            body,
            hex,
        ) {
            tracing::warn!(
                account,
                "whatsapp notification with a bad signature refused"
            );
            return Err(WhatsAppWebhookError::BadSignature);
        }
        let notification: Value = serde_json::from_slice(body)
            .map_err(|e| WhatsAppWebhookError::NotANotification(e.to_string()))?;
        if notification.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
            return Err(WhatsAppWebhookError::NotANotification(
                "object is not whatsapp_business_account".to_owned(),
            ));
        }
        let id = format!("wa-{account}-{}", crate::signature::sha256_hex(body));
        self.pushed
            .store("whatsapp", account, &id, body)
            .await
            .map_err(WhatsAppWebhookError::Bus)
    }
}

/// The numbers of `channels.whatsapp` by account. A number without a usable `appSecret` or
/// `verifyToken` for the gateway (missing, or its variable not set here) is a configuration error:
/// an unauthenticated ingress would let anyone talk to the agent.
pub fn numbers_from_config(
    channels: &pincer_config::Channels,
) -> Result<BTreeMap<String, Number>, String> {
    let mut out = BTreeMap::new();
    let Some(whatsapp) = channels.whatsapp.as_ref().filter(|w| w.enabled) else {
        return Ok(out);
    };
    let usable = |secret: &Option<pincer_config::Secret>| {
        secret
            .clone()
            .filter(|s| !s.is_empty() && !s.expose().contains("${"))
    };
    for (account, settings) in whatsapp.resolved_accounts() {
        let (Some(app_secret), Some(verify_token)) =
            (usable(&settings.app_secret), usable(&settings.verify_token))
        else {
            return Err(format!(
                "channels.whatsapp ({account}) needs an appSecret and a verifyToken the gateway can read (e.g. \"${{WHATSAPP_APP_SECRET}}\" and \"${{WHATSAPP_VERIFY_TOKEN}}\", with those variables passed to the gateway): without them it could not tell Meta's calls from anyone's"
            ));
        };
        out.insert(
            account,
            Number {
                app_secret,
                verify_token,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "6a1c3b0e5f7d9a2c4e6b8d0f1a3c5e7b";

    fn sign(secret: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, body);
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    fn webhooks() -> WhatsAppWebhooks {
        let numbers = BTreeMap::from([(
            "default".to_owned(),
            Number {
                app_secret: pincer_config::Secret::new(SECRET),
                verify_token: pincer_config::Secret::new("meta-verify-1"),
            },
        )]);
        WhatsAppWebhooks::new(numbers, PushedEvents::new(pincer_bus::Namespace::default()))
    }

    #[test]
    fn verification_echoes_the_challenge_only_for_the_right_token() {
        let hooks = webhooks();
        assert_eq!(
            hooks.verify(
                "default",
                Some("subscribe"),
                Some("meta-verify-1"),
                Some("1158201444")
            ),
            Ok("1158201444".to_owned())
        );
        assert_eq!(
            hooks.verify("default", Some("subscribe"), Some("guess"), Some("1")),
            Err(WhatsAppWebhookError::NotVerified)
        );
        assert_eq!(
            hooks.verify(
                "default",
                Some("unsubscribe"),
                Some("meta-verify-1"),
                Some("1")
            ),
            Err(WhatsAppWebhookError::NotVerified)
        );
        assert!(matches!(
            hooks.verify("other", Some("subscribe"), Some("meta-verify-1"), Some("1")),
            Err(WhatsAppWebhookError::UnknownAccount(_))
        ));
    }

    #[tokio::test]
    async fn unsigned_forged_and_foreign_bodies_are_refused_before_anything_is_stored() {
        let hooks = webhooks();
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        assert_eq!(
            hooks.receive("default", None, body).await,
            Err(WhatsAppWebhookError::BadSignature)
        );
        let forged = sign("not-the-secret", body);
        assert_eq!(
            hooks.receive("default", Some(&forged), body).await,
            Err(WhatsAppWebhookError::BadSignature)
        );
        let page = br#"{"object":"page","entry":[]}"#;
        assert!(matches!(
            hooks
                .receive("default", Some(&sign(SECRET, page)), page)
                .await,
            Err(WhatsAppWebhookError::NotANotification(_))
        ));
        // Signed right, but no bus attached: refused as unavailable (Meta retries), not lost.
        assert!(matches!(
            hooks
                .receive("default", Some(&sign(SECRET, body)), body)
                .await,
            Err(WhatsAppWebhookError::Bus(_))
        ));
    }

    #[test]
    fn every_number_needs_both_secrets_for_the_gateway() {
        let channels = |json: serde_json::Value| -> pincer_config::Channels {
            serde_json::from_value(json).expect("channels")
        };
        let numbers = numbers_from_config(&channels(serde_json::json!({"whatsapp": {
            "phoneNumberId": "1", "accessToken": "t", "appSecret": "s", "verifyToken": "v",
            "accounts": {"shop": {"phoneNumberId": "2", "verifyToken": "v2"}}
        }})))
        .expect("numbers");
        assert_eq!(numbers.keys().collect::<Vec<_>>(), ["default", "shop"]);
        assert_eq!(numbers["shop"].verify_token.expose(), "v2");
        assert!(
            numbers_from_config(&channels(serde_json::json!({"whatsapp": {
                "phoneNumberId": "1", "accessToken": "t", "appSecret": "${WHATSAPP_APP_SECRET}", "verifyToken": "v"
            }})))
            .is_err(),
            "an unset variable"
        );
    }
}
