//! Secrets a gateway listening beyond loopback refuses because they can be guessed, read from
//! the file alone (`pincer config validate`, `pincer doctor`). The gateway decides at start from
//! the address it really binds (an environment override such as compose's
//! `PINCER_GATEWAY_BIND=lan` included), so this is the CLI's early word, not a load-time rule.

use crate::schema::gateway::{Auth, AuthMode, Bind, Gateway};
use crate::{Config, Secret};

/// A secret that says something (not blank).
fn set(secret: &Option<Secret>) -> Option<&Secret> {
    secret
        .as_ref()
        .filter(|secret| !secret.expose().trim().is_empty())
}

/// The secret that signs in to the gateway under its auth mode, with its key path: the token or
/// the password (the one set, when the mode is not).
#[must_use]
pub fn gateway_secret(auth: &Auth) -> Option<(&'static str, &Secret)> {
    let token = set(&auth.token).map(|secret| ("gateway.auth.token", secret));
    let password = set(&auth.password).map(|secret| ("gateway.auth.password", secret));
    match auth.mode {
        Some(AuthMode::Token) => token,
        Some(AuthMode::Password) => password,
        Some(AuthMode::None | AuthMode::TrustedProxy) => None,
        None => token.or(password),
    }
}

/// Whether `gateway.bind` (with `customBindHost`) faces a network. `auto` and host names are
/// left to the gateway, which resolves them.
#[must_use]
pub fn faces_a_network(gateway: &Gateway) -> bool {
    match &gateway.bind {
        Bind::Loopback | Bind::Auto => false,
        Bind::Lan | Bind::Tailnet => true,
        Bind::Address(ip) => !ip.is_loopback(),
        Bind::Custom => gateway
            .custom_bind_host
            .as_deref()
            .and_then(|host| host.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| !ip.is_loopback()),
    }
}

/// The first secret that lets someone in and can be guessed, when the file's bind faces a
/// network: `(key path, why)`.
#[must_use]
pub fn weak_exposed_secret(config: &Config) -> Option<(String, String)> {
    if !faces_a_network(&config.gateway) {
        return None;
    }
    let auth = &config.gateway.auth;
    let admin = set(&auth.admin_token).map(|secret| ("gateway.auth.adminToken", secret));
    let hooks = config
        .hooks
        .token
        .as_ref()
        .filter(|_| config.hooks.enabled)
        .map(|secret| ("hooks.token", secret));
    [gateway_secret(auth), admin, hooks]
        .into_iter()
        .flatten()
        .find_map(|(key, secret)| {
            crate::strength::weakness(secret.expose()).map(|why| {
                (
                    key.to_owned(),
                    format!(
                        "{why}: the gateway refuses to listen beyond loopback (gateway.bind) with a secret that can be guessed; generate one with `openssl rand -hex 32`"
                    ),
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).expect("config")
    }

    #[test]
    fn a_guessable_secret_on_a_network_facing_bind_is_named() {
        let weak_on_lan = config(r#"{"gateway": {"bind": "lan", "auth": {"token": "short"}}}"#);
        let (path, message) = weak_exposed_secret(&weak_on_lan).expect("weak on lan");
        assert_eq!(path, "gateway.auth.token");
        assert!(message.contains("openssl rand"), "{message}");
        let loopback = config(r#"{"gateway": {"bind": "loopback", "auth": {"token": "short"}}}"#);
        assert_eq!(
            weak_exposed_secret(&loopback),
            None,
            "only warned about there"
        );
        // The password is the secret in use; a leftover token does not count, nor a blank
        // admin token.
        let password = config(
            r#"{"gateway": {"bind": "lan", "auth": {"mode": "password",
                "password": "Zx9-long-password-Qw8-Er7-Ty6-Ui5", "token": "short", "adminToken": "  "}}}"#,
        );
        assert_eq!(weak_exposed_secret(&password), None);
    }
}
