//! BlueBubbles ingress: `POST /bluebubbles-webhook/<account>` (`default` for the top-level
//! server). BlueBubbles cannot sign its webhooks; the call must carry the server password, in the
//! URL's `guid`, `password` or `token` parameter (the ones BlueBubbles' own API takes), or in an
//! `x-password`, `x-guid`, `x-bluebubbles-guid` or `Authorization: Bearer` header from a proxy.
//! It is compared in constant time before the body is read. The body is put on JetStream (its
//! message id is the body's hash, so a repeated post is dropped) and only then answered 200.

use std::collections::BTreeMap;

use crate::pushed::PushedEvents;
use serde_json::Value;

/// The headers a password may come in, besides the URL.
pub const PASSWORD_HEADERS: [&str; 3] = ["x-password", "x-guid", "x-bluebubbles-guid"];

/// The servers' passwords by account, and where their webhooks go.
#[derive(Clone, Default)]
pub struct BlueBubblesWebhooks {
    passwords: BTreeMap<String, pincer_config::Secret>,
    pushed: PushedEvents,
}

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlueBubblesWebhookError {
    /// No server has this account name.
    #[error("no bluebubbles server for account {0:?}")]
    UnknownAccount(String),
    /// The password is missing or wrong.
    #[error("bad or missing bluebubbles password")]
    BadPassword,
    /// The body is not a BlueBubbles event.
    #[error("the body is not a bluebubbles event: {0}")]
    NotAnEvent(String),
    /// JetStream did not take it.
    #[error("message bus unavailable: {0}")]
    Bus(String),
}

/// The password a call presents: the URL's `guid`, `password` or `token` parameter, in the order
/// BlueBubbles' own API reads them, else a header.
pub fn presented(uri: &http::Uri, headers: &http::HeaderMap) -> Option<String> {
    let query =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .map(|query| query.0)
            .unwrap_or_default();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    ["guid", "password", "token"]
        .iter()
        .find_map(|name| query.get(*name))
        .map(String::as_str)
        .or_else(|| PASSWORD_HEADERS.iter().find_map(|name| header(name)))
        .or_else(|| header("authorization").map(|v| v.trim_start_matches("Bearer ")))
        .map(|value| value.trim().to_owned())
}

impl BlueBubblesWebhooks {
    /// `passwords` by account; nothing is accepted for an account without one.
    pub fn new(passwords: BTreeMap<String, pincer_config::Secret>, pushed: PushedEvents) -> Self {
        Self { passwords, pushed }
    }

    /// Checks the password a call for `account` presents (before the body is read).
    pub fn check_password(
        &self,
        account: &str,
        password: Option<&str>,
    ) -> Result<(), BlueBubblesWebhookError> {
        let expected = self
            .passwords
            .get(account)
            .ok_or_else(|| BlueBubblesWebhookError::UnknownAccount(account.to_owned()))?;
        let presented = password.unwrap_or_default().as_bytes();
        if !pincer_service_auth::same_secret(presented, expected.expose().as_bytes()) {
            tracing::warn!(account, "bluebubbles webhook with a bad password refused");
            return Err(BlueBubblesWebhookError::BadPassword);
        }
        Ok(())
    }

    /// Checks and stores one event.
    pub async fn receive(
        &self,
        account: &str,
        password: Option<&str>,
        body: &[u8],
    ) -> Result<(), BlueBubblesWebhookError> {
        self.check_password(account, password)?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| BlueBubblesWebhookError::NotAnEvent(e.to_string()))?;
        if event.get("type").and_then(Value::as_str).is_none() {
            return Err(BlueBubblesWebhookError::NotAnEvent("no type".to_owned()));
        }
        let id = format!("bb-{account}-{}", crate::signature::sha256_hex(body));
        self.pushed
            .store("bluebubbles", account, &id, body)
            .await
            .map_err(BlueBubblesWebhookError::Bus)
    }
}

/// The servers of `channels.bluebubbles` by account. A server without a password the gateway can
/// read (missing, or its variable not set here) is a configuration error: anyone could post
/// messages as if they came from the Mac.
pub fn passwords_from_config(
    channels: &pincer_config::Channels,
) -> Result<BTreeMap<String, pincer_config::Secret>, String> {
    let mut out = BTreeMap::new();
    let Some(bluebubbles) = channels.bluebubbles.as_ref().filter(|b| b.enabled) else {
        return Ok(out);
    };
    for (account, settings) in bluebubbles.resolved_accounts() {
        let Some(password) = settings
            .password
            .filter(|s| !s.is_empty() && !s.expose().contains("${"))
        else {
            return Err(format!(
                "channels.bluebubbles ({account}) has no password the gateway can read (set it, e.g. \"${{BLUEBUBBLES_PASSWORD}}\", and pass that variable to the gateway): its webhook would accept anyone's messages"
            ));
        };
        out.insert(account, password);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> BlueBubblesWebhooks {
        BlueBubblesWebhooks::new(
            BTreeMap::from([(
                "default".to_owned(),
                pincer_config::Secret::new("bb-pass word&1"),
            )]),
            PushedEvents::new(pincer_bus::Namespace::default()),
        )
    }

    #[test]
    fn the_password_comes_from_the_url_or_a_header() {
        let uri: http::Uri = "/bluebubbles-webhook/default?password=bb-pass%20word%261"
            .parse()
            .expect("uri");
        let none = http::HeaderMap::new();
        assert_eq!(presented(&uri, &none).as_deref(), Some("bb-pass word&1"));
        let token: http::Uri = "/bluebubbles-webhook/default?token=t0k"
            .parse()
            .expect("uri");
        assert_eq!(presented(&token, &none).as_deref(), Some("t0k"));
        let bare: http::Uri = "/bluebubbles-webhook/default".parse().expect("uri");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-bluebubbles-guid",
            "bb-pass word&1".parse().expect("value"),
        );
        assert_eq!(
            presented(&bare, &headers).as_deref(),
            Some("bb-pass word&1")
        );
        assert_eq!(presented(&bare, &none), None);
        let hooks = hooks();
        assert_eq!(
            hooks.check_password("default", Some("bb-pass word&1")),
            Ok(())
        );
        assert_eq!(
            hooks.check_password("default", Some("guess")),
            Err(BlueBubblesWebhookError::BadPassword)
        );
        assert_eq!(
            hooks.check_password("default", None),
            Err(BlueBubblesWebhookError::BadPassword)
        );
        assert!(matches!(
            hooks.check_password("mac2", Some("bb-pass word&1")),
            Err(BlueBubblesWebhookError::UnknownAccount(_))
        ));
    }

    #[tokio::test]
    async fn bodies_must_be_events() {
        let hooks = hooks();
        assert!(matches!(
            hooks
                .receive("default", Some("bb-pass word&1"), b"not json")
                .await,
            Err(BlueBubblesWebhookError::NotAnEvent(_))
        ));
        assert!(matches!(
            hooks
                .receive(
                    "default",
                    Some("bb-pass word&1"),
                    br#"{"type":"new-message","data":{}}"#
                )
                .await,
            Err(BlueBubblesWebhookError::Bus(_))
        ));
    }

    #[test]
    fn every_server_needs_a_readable_password() {
        let channels = |json: serde_json::Value| -> pincer_config::Channels {
            serde_json::from_value(json).expect("channels")
        };
        assert_eq!(
            passwords_from_config(&channels(serde_json::json!({"bluebubbles": {
                "serverUrl": "http://mac:1234", "password": "p",
                "accounts": {"studio": {"serverUrl": "http://studio:1234", "password": "q"}}
            }})))
            .expect("passwords")
            .len(),
            2
        );
        assert!(
            passwords_from_config(&channels(serde_json::json!({"bluebubbles": {
                "serverUrl": "http://mac:1234", "password": "${BLUEBUBBLES_PASSWORD}"
            }})))
            .is_err()
        );
    }
}
