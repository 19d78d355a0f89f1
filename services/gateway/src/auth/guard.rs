//! The whole admission check of a request or WebSocket sign-in: browser origin, lockout, then the
//! credentials; failures are counted per client address and logged without the presented secret.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::limiter::Limiter;
use super::origin::Origins;
use super::{Auth, ClientAddr, Denied, Presented, Proxies};

/// Admission policy.
#[derive(Debug)]
pub struct Guard {
    /// The auth mode.
    pub auth: Auth,
    /// Failed-attempt limiter of the gateway's own credentials (API, control plane).
    pub limiter: Limiter,
    /// Failed-attempt limiters of the other secrets (the hooks token, a Telegram webhook's
    /// secret, a BlueBubbles password), one per kind of call: apart, so junk sent to one public
    /// webhook locks out neither the operator (API, dashboard) nor the other webhooks.
    others: OtherLimiters,
    /// Trusted reverse proxies.
    pub proxies: Proxies,
    /// Browser origin policy (hot-reloadable).
    origins: std::sync::RwLock<Origins>,
    /// `gateway.auth.adminToken`.
    admin_token: Option<pincer_config::Secret>,
}

/// The lockouts of the secrets that are not the gateway's, by kind of call (`hook`,
/// `telegram-webhook`, ...), made on first use.
#[derive(Debug)]
struct OtherLimiters {
    policy: std::sync::Mutex<pincer_config::RateLimit>,
    by_kind: std::sync::Mutex<std::collections::BTreeMap<String, std::sync::Arc<Limiter>>>,
}

impl OtherLimiters {
    fn new(policy: pincer_config::RateLimit) -> Self {
        Self {
            policy: std::sync::Mutex::new(policy),
            by_kind: std::sync::Mutex::default(),
        }
    }

    /// The lockout of `kind`.
    fn of(&self, kind: &str) -> std::sync::Arc<Limiter> {
        let policy = *self.policy.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_kind = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        std::sync::Arc::clone(
            by_kind
                .entry(kind.to_owned())
                .or_insert_with(|| std::sync::Arc::new(Limiter::new(policy))),
        )
    }

    fn set_policy(&self, policy: pincer_config::RateLimit) {
        *self.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
        for limiter in self
            .by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            limiter.set_policy(policy);
        }
    }
}

/// Why a client was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Missing or wrong credentials.
    Unauthorized,
    /// Locked out after too many failures.
    RateLimited(Duration),
    /// Origin not allowed, insecure sign-in, or not through the trusted proxy.
    Forbidden(String),
}

impl Guard {
    /// The policy from the gateway's settings.
    pub fn new(config: &crate::Config) -> Self {
        Self {
            auth: config.auth.clone(),
            limiter: Limiter::new(config.rate_limit),
            others: OtherLimiters::new(config.rate_limit),
            proxies: config.proxies.clone(),
            origins: std::sync::RwLock::new(config.origins.clone()),
            admin_token: config.admin_token.clone(),
        }
    }

    /// Whether an admin token is configured.
    pub fn has_admin_token(&self) -> bool {
        self.admin_token.is_some()
    }

    /// Applies the hot-reloadable parts of a changed `gateway` section (origins, insecure-auth
    /// opt-in, rate limit).
    pub fn reload(&self, gateway: &pincer_config::Gateway) {
        let ui = &gateway.control_ui;
        *self.origins.write().unwrap_or_else(|e| e.into_inner()) =
            Origins::new(&ui.allowed_origins, ui.allow_insecure_auth);
        let policy = gateway.auth.rate_limit.unwrap_or_default();
        self.limiter.set_policy(policy);
        self.others.set_policy(policy);
    }

    fn origins(&self) -> Origins {
        self.origins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `Err(reason)` for a browser origin that may not call the gateway.
    pub fn check_origin(&self, headers: &http::HeaderMap) -> Result<(), Refusal> {
        self.origins().check(headers).map_err(Refusal::Forbidden)
    }

    /// Where a request comes from.
    pub fn client(&self, peer: IpAddr, headers: &http::HeaderMap) -> ClientAddr {
        self.proxies.resolve(peer, headers)
    }

    /// Admits an HTTP API request (`Authorization: Bearer`, or the proxy's user header).
    pub fn admit_http(
        &self,
        client: &ClientAddr,
        headers: &http::HeaderMap,
        what: &str,
    ) -> Result<String, Refusal> {
        self.check_origin(headers)?;
        self.admit(client, what, || self.auth.check_headers(headers, client))
    }

    /// Admits a control-plane sign-in with the secret from the `connect` frame: the admin token,
    /// or the everyday credential. Says who signed in and with which credential.
    pub fn admit_connect(
        &self,
        client: &ClientAddr,
        headers: &http::HeaderMap,
        secret: Option<&str>,
    ) -> Result<(String, super::Credential), Refusal> {
        if let (Some(admin), Some(presented)) = (&self.admin_token, secret)
            && pincer_service_auth::same_secret(presented.as_bytes(), admin.expose().as_bytes())
        {
            self.origins()
                .check_secure_auth(headers)
                .map_err(Refusal::Forbidden)?;
            return self
                .admit(client, "control sign-in", || Ok("admin-token".to_owned()))
                .map(|who| (who, super::Credential::Admin));
        }
        self.admit_operator(client, headers, secret)
            .map(|who| (who, super::Credential::Operator))
    }

    fn admit_operator(
        &self,
        client: &ClientAddr,
        headers: &http::HeaderMap,
        secret: Option<&str>,
    ) -> Result<String, Refusal> {
        if matches!(self.auth, Auth::Token(_) | Auth::Password(_)) {
            self.origins()
                .check_secure_auth(headers)
                .map_err(Refusal::Forbidden)?;
        }
        self.admit(client, "control sign-in", || {
            self.auth.check(Presented {
                secret,
                ..self.auth.presented(headers, client)
            })
        })
    }

    /// Checks a secret that is not the gateway's (the hooks token, a webhook's secret) with a
    /// lockout of its own, one per kind of call (`what`). Its success does not clear the address's failures:
    /// one secret's holder could otherwise reset the lockout between guesses of another.
    pub fn admit_other(
        &self,
        client: &ClientAddr,
        what: &str,
        check: impl FnOnce() -> bool,
    ) -> Result<(), Refusal> {
        let limiter = self.others.of(what);
        self.admit_with(&limiter, client, what, false, || {
            check()
                .then(|| "hook".to_owned())
                .ok_or(Denied::BadCredentials)
        })
        .map(|_| ())
    }

    /// Admits a control-plane sign-in that Tailscale Serve proxied, once `whois` has said whether
    /// the tailnet address belongs to the login in the headers (`Err`: it does not, or could not
    /// be asked). A failure counts against the address like a wrong token.
    pub fn admit_tailscale(
        &self,
        client: &ClientAddr,
        verified: Result<String, String>,
    ) -> Result<(String, super::Credential), Refusal> {
        self.admit(client, "control sign-in (tailscale)", || match verified {
            Ok(login) => Ok(format!("tailscale:{login}")),
            Err(why) => {
                tracing::warn!(client = %client.ip, %why, "tailscale identity not confirmed");
                Err(Denied::BadCredentials)
            }
        })
        .map(|who| (who, super::Credential::Operator))
    }

    fn admit(
        &self,
        client: &ClientAddr,
        what: &str,
        check: impl FnOnce() -> Result<String, Denied>,
    ) -> Result<String, Refusal> {
        self.admit_with(&self.limiter, client, what, true, check)
    }

    fn admit_with(
        &self,
        limiter: &Limiter,
        client: &ClientAddr,
        what: &str,
        success_clears: bool,
        check: impl FnOnce() -> Result<String, Denied>,
    ) -> Result<String, Refusal> {
        let now = Instant::now();
        limiter
            .check(client.ip, now)
            .map_err(Refusal::RateLimited)?;
        match check() {
            Ok(who) => {
                if success_clears {
                    limiter.succeeded(client.ip);
                }
                Ok(who)
            }
            Err(Denied::NotFromProxy) => {
                tracing::warn!(client = %client.ip, what, "refused: not through a trusted proxy");
                Err(Refusal::Forbidden(
                    "this gateway only accepts requests through its trusted proxy".to_owned(),
                ))
            }
            Err(Denied::BadCredentials) => {
                let locked = limiter.failed(client.ip, now);
                // The presented value is never logged, not even in part.
                tracing::warn!(client = %client.ip, what, locked_out = locked.is_err(), "failed authentication");
                match locked {
                    Err(wait) => Err(Refusal::RateLimited(wait)),
                    Ok(()) => Err(Refusal::Unauthorized),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_config::{RateLimit, Secret};

    const POLICY: RateLimit = RateLimit {
        max_attempts: 3,
        window_ms: 60_000,
        lockout_ms: 60_000,
        exempt_loopback: false,
    };

    fn guard() -> Guard {
        Guard {
            auth: Auth::Token(Secret::new("the-gateway-token")),
            limiter: Limiter::new(POLICY),
            others: OtherLimiters::new(POLICY),
            proxies: Proxies::default(),
            origins: std::sync::RwLock::new(Origins::default()),
            admin_token: Some(Secret::new("the-admin-token-0123456789abcdef")),
        }
    }

    #[test]
    fn the_admin_token_is_a_credential_of_its_own() {
        let guard = guard();
        let client = ClientAddr::direct("203.0.113.8".parse().expect("ip"));
        let headers = http::HeaderMap::new();
        let (_, credential) = guard
            .admit_connect(&client, &headers, Some("the-admin-token-0123456789abcdef"))
            .expect("admin");
        assert_eq!(credential, crate::auth::Credential::Admin);
        let (_, credential) = guard
            .admit_connect(&client, &headers, Some("the-gateway-token"))
            .expect("operator");
        assert_eq!(credential, crate::auth::Credential::Operator);
        assert!(
            !credential
                .allowed_scopes(true)
                .contains(&super::super::Scope::Admin)
        );
        assert!(
            credential
                .allowed_scopes(false)
                .contains(&super::super::Scope::Admin)
        );
    }

    #[test]
    fn a_valid_hook_token_does_not_reset_the_lockout_of_the_gateway_token() {
        let guard = guard();
        let client = ClientAddr::direct("203.0.113.7".parse().expect("ip"));
        let headers = http::HeaderMap::new();
        for _ in 0..3 {
            let guess = guard.admit_connect(&client, &headers, Some("guess"));
            assert_eq!(guess, Err(Refusal::Unauthorized));
            // The attacker also holds the hooks token and uses it between guesses.
            assert!(guard.admit_other(&client, "hook", || true).is_ok());
        }
        let fourth = guard.admit_connect(&client, &headers, Some("guess"));
        assert!(matches!(fourth, Err(Refusal::RateLimited(_))), "{fourth:?}");
        // The real token clears it only after the lockout.
        let real = guard.admit_connect(&client, &headers, Some("the-gateway-token"));
        assert!(matches!(real, Err(Refusal::RateLimited(_))));
    }

    #[test]
    fn failures_of_other_secrets_lock_out_only_those_secrets() {
        let guard = guard();
        let client = ClientAddr::direct("203.0.113.9".parse().expect("ip"));
        for _ in 0..3 {
            assert_eq!(
                guard.admit_other(&client, "telegram-webhook", || false),
                Err(Refusal::Unauthorized)
            );
        }
        let fourth = guard.admit_other(&client, "telegram-webhook", || false);
        assert!(matches!(fourth, Err(Refusal::RateLimited(_))), "{fourth:?}");
        let locked = guard.admit_other(&client, "telegram-webhook", || true);
        assert!(matches!(locked, Err(Refusal::RateLimited(_))), "{locked:?}");
        assert!(
            guard
                .admit_other(&client, "bluebubbles-webhook", || true)
                .is_ok(),
            "another webhook is not locked out by junk sent to this one"
        );
        let headers = http::HeaderMap::new();
        assert!(
            guard
                .admit_connect(&client, &headers, Some("the-gateway-token"))
                .is_ok(),
            "the operator is not locked out by junk sent to a webhook"
        );
    }
}
