//! Who may use the gateway.
//!
//! - [`Auth`]: the configured mode (`none`, `token`, `password`, `trusted-proxy`) and its check.
//!   Secret comparisons run in constant time and failures never say why, so a client cannot probe.
//! - [`guard`]: origin, lockout and credentials together, for HTTP and the control WebSocket.
//! - [`limiter`]: failed attempts per client address, with a lockout.
//! - [`client`]: the client's address, through trusted proxies.
//! - [`origin`]: which browser origins may call the API or open the control WebSocket.
//! - [`scope`]: the operator scopes a credential grants and a method needs.

pub mod client;
pub mod guard;
pub mod limiter;
pub mod origin;
pub mod scope;

use std::net::IpAddr;

use pincer_config::{AuthMode, Secret};

pub use client::{ClientAddr, Proxies};
pub use scope::{Scope, Scopes};

/// Header a trusted proxy puts the authenticated user in, unless configured otherwise.
pub const DEFAULT_USER_HEADER: &str = "x-forwarded-user";
/// Header a trusted proxy puts the shared proxy secret in, unless configured otherwise.
pub const DEFAULT_SECRET_HEADER: &str = "x-pincer-proxy-secret";

/// The resolved auth policy.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No auth (allowed only on loopback binds).
    None,
    /// `Authorization: Bearer <token>`, or `auth.token` on the control WebSocket.
    Token(Secret),
    /// `Authorization: Bearer <password>` (the OpenAI API has no other place for it), or
    /// `auth.password` on the control WebSocket.
    Password(Secret),
    /// A reverse proxy authenticated the user: requests must come from one of `gateway.trustedProxies`
    /// and carry the user header.
    TrustedProxy {
        /// Lower-case header name.
        user_header: String,
        /// Users let in (empty = any).
        allow_users: Vec<String>,
        /// The shared secret the proxy adds, and the (lower-case) header it is in.
        secret: Option<(String, Secret)>,
    },
}

/// The auth section cannot be used as written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Token mode without a token.
    #[error(
        "gateway.auth.token is not set: set it in the config or PINCER_GATEWAY_TOKEN (e.g. `openssl rand -hex 32`)"
    )]
    MissingToken,
    /// Password mode without a password.
    #[error("gateway.auth.password is not set")]
    MissingPassword,
    /// Both secrets and no mode: ambiguous.
    #[error(
        "gateway.auth has both a token and a password: set gateway.auth.mode to \"token\" or \"password\""
    )]
    Ambiguous,
    /// trusted-proxy without proxies.
    #[error(
        "gateway.auth.mode is \"trusted-proxy\" but gateway.trustedProxies is empty: list the proxy's own address (e.g. [\"172.18.0.5\"]), and set gateway.auth.trustedProxy.secret so no other local process can pose as it"
    )]
    NoProxies,
    /// A header name that is not one.
    #[error("gateway.auth.trustedProxy.userHeader {0:?} is not a valid header name")]
    BadHeader(String),
}

/// Which credential a control client signed in with; it decides the scopes it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `gateway.auth.adminToken`: every scope, and remote changes of the fields that decide where
    /// a secret goes or what runs.
    Admin,
    /// The everyday token, password, trusted-proxy user, or none (loopback): every scope but
    /// `operator.admin` while an admin token is configured.
    Operator,
}

impl Credential {
    /// The scopes this credential may hold.
    #[must_use]
    pub fn allowed_scopes(self, admin_token_configured: bool) -> &'static [Scope] {
        match self {
            Self::Operator if admin_token_configured => {
                &[Scope::Read, Scope::Write, Scope::Pairing]
            }
            _ => &Scope::ALL,
        }
    }
}

/// What a client presented.
#[derive(Clone, Copy, Debug, Default)]
pub struct Presented<'a> {
    /// The bearer value, or the WebSocket `auth.token` / `auth.password`.
    pub secret: Option<&'a str>,
    /// The user header's value (trusted-proxy mode).
    pub proxy_user: Option<&'a str>,
    /// The proxy secret header's value (trusted-proxy mode).
    pub proxy_secret: Option<&'a str>,
    /// Whether the request came straight from a trusted proxy.
    pub via_trusted_proxy: bool,
}

/// Why a client was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Missing or wrong credentials (counts towards the rate limit).
    BadCredentials,
    /// trusted-proxy mode and the request did not come through a trusted proxy.
    NotFromProxy,
}

impl Auth {
    /// Resolves the configured mode; `env_token` (`PINCER_GATEWAY_TOKEN`) fills a missing token.
    pub fn from_config(
        auth: &pincer_config::Auth,
        env_token: Option<String>,
        trusted_proxies: &[String],
    ) -> Result<Self, Error> {
        let token = auth
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| env_token.filter(|t| !t.trim().is_empty()).map(Secret::new));
        let password = auth.password.clone().filter(|p| !p.is_empty());
        let mode = match auth.mode {
            Some(mode) => mode,
            None if password.is_some() && token.is_some() && auth.token.is_some() => {
                return Err(Error::Ambiguous);
            }
            None if password.is_some() && token.is_none() => AuthMode::Password,
            None => AuthMode::Token,
        };
        match mode {
            AuthMode::None => Ok(Self::None),
            AuthMode::Token => token.map(Self::Token).ok_or(Error::MissingToken),
            AuthMode::Password => password.map(Self::Password).ok_or(Error::MissingPassword),
            AuthMode::TrustedProxy => {
                if trusted_proxies.is_empty() {
                    return Err(Error::NoProxies);
                }
                let settings = auth.trusted_proxy.clone().unwrap_or_default();
                let user_header = settings
                    .user_header
                    .unwrap_or_else(|| DEFAULT_USER_HEADER.to_owned())
                    .to_ascii_lowercase();
                http::HeaderName::from_bytes(user_header.as_bytes())
                    .map_err(|_| Error::BadHeader(user_header.clone()))?;
                let secret = match settings.secret.filter(|s| !s.expose().is_empty()) {
                    Some(secret) => {
                        let header = settings
                            .secret_header
                            .unwrap_or_else(|| DEFAULT_SECRET_HEADER.to_owned())
                            .to_ascii_lowercase();
                        http::HeaderName::from_bytes(header.as_bytes())
                            .map_err(|_| Error::BadHeader(header.clone()))?;
                        Some((header, secret))
                    }
                    None => None,
                };
                Ok(Self::TrustedProxy {
                    user_header,
                    allow_users: settings.allow_users,
                    secret,
                })
            }
        }
    }

    /// Whether any credential is required.
    pub fn is_required(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// The mode's name, as in the config.
    pub fn mode_name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Token(_) => "token",
            Self::Password(_) => "password",
            Self::TrustedProxy { .. } => "trusted-proxy",
        }
    }

    /// The header a trusted proxy names the user in.
    pub fn proxy_user_header(&self) -> Option<&str> {
        match self {
            Self::TrustedProxy { user_header, .. } => Some(user_header),
            _ => None,
        }
    }

    /// The header a trusted proxy puts the shared secret in, when one is configured.
    pub fn proxy_secret_header(&self) -> Option<&str> {
        match self {
            Self::TrustedProxy {
                secret: Some((header, _)),
                ..
            } => Some(header),
            _ => None,
        }
    }

    /// The values a request's headers present: bearer secret, proxy user, proxy secret.
    pub fn presented<'a>(
        &self,
        headers: &'a http::HeaderMap,
        client: &ClientAddr,
    ) -> Presented<'a> {
        let value = |name: Option<&str>| {
            name.and_then(|name| headers.get(name))
                .and_then(|v| v.to_str().ok())
        };
        Presented {
            secret: value(Some(http::header::AUTHORIZATION.as_str())).and_then(bearer),
            proxy_user: value(self.proxy_user_header()),
            proxy_secret: value(self.proxy_secret_header()),
            via_trusted_proxy: client.via_trusted_proxy,
        }
    }

    /// Checks what a client presented; `Ok` carries who it is, for logs (never a secret).
    pub fn check(&self, presented: Presented<'_>) -> Result<String, Denied> {
        let expected = match self {
            Self::None => return Ok("anonymous".to_owned()),
            Self::Token(secret) | Self::Password(secret) => secret.expose().as_bytes(),
            Self::TrustedProxy {
                allow_users,
                secret,
                ..
            } => {
                if !presented.via_trusted_proxy {
                    return Err(Denied::NotFromProxy);
                }
                if let Some((_, expected)) = secret
                    && !presented.proxy_secret.is_some_and(|given| {
                        pincer_service_auth::same_secret(
                            given.as_bytes(),
                            expected.expose().as_bytes(),
                        )
                    })
                {
                    return Err(Denied::BadCredentials);
                }
                let user = presented
                    .proxy_user
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .ok_or(Denied::BadCredentials)?;
                if !allow_users.is_empty() && !allow_users.iter().any(|a| a == user) {
                    return Err(Denied::BadCredentials);
                }
                return Ok(format!("proxy-user:{user}"));
            }
        };
        let presented = presented.secret.ok_or(Denied::BadCredentials)?;
        if pincer_service_auth::same_secret(presented.as_bytes(), expected) {
            Ok("shared-secret".to_owned())
        } else {
            Err(Denied::BadCredentials)
        }
    }

    /// Checks an HTTP request's headers.
    pub fn check_headers(
        &self,
        headers: &http::HeaderMap,
        client: &ClientAddr,
    ) -> Result<String, Denied> {
        self.check(self.presented(headers, client))
    }
}

/// The value of an `Authorization: Bearer <value>` header.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, value) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}

/// Whether an address is this host's own.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> Presented<'_> {
        Presented {
            secret: Some(value),
            ..Presented::default()
        }
    }

    fn http_secret(auth: &Auth, header: Option<&str>) -> bool {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = header {
            headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        auth.check_headers(&headers, &ClientAddr::direct("10.0.0.9".parse().unwrap()))
            .is_ok()
    }

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let auth = Auth::Token(Secret::new("s3cret"));
        assert!(http_secret(&auth, Some("Bearer s3cret")));
        assert!(http_secret(&auth, Some("bearer  s3cret ")));
        assert!(!http_secret(&auth, Some("Bearer s3cre")));
        assert!(!http_secret(&auth, Some("Bearer s3cret2")));
        assert!(!http_secret(&auth, Some("Basic s3cret")));
        assert!(!http_secret(&auth, Some("s3cret")));
        assert!(!http_secret(&auth, None));
        assert_eq!(auth.check(secret("s3cret")).as_deref(), Ok("shared-secret"));
        assert_eq!(auth.check(secret("")), Err(Denied::BadCredentials));
    }

    #[test]
    fn token_mode_without_a_token_is_a_startup_error() {
        let config = pincer_config::Auth::default();
        assert!(matches!(
            Auth::from_config(&config, None, &[]),
            Err(Error::MissingToken)
        ));
        let resolved = Auth::from_config(&config, Some("from-env".into()), &[]).unwrap();
        assert!(resolved.check(secret("from-env")).is_ok());
    }

    #[test]
    fn password_mode_and_ambiguity() {
        let config = pincer_config::Auth {
            password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        let auth = Auth::from_config(&config, None, &[]).unwrap();
        assert_eq!(auth.mode_name(), "password");
        assert!(auth.check(secret("hunter2")).is_ok());
        assert!(auth.check(secret("hunter3")).is_err());
        let both = pincer_config::Auth {
            token: Some(Secret::new("t")),
            password: Some(Secret::new("p")),
            ..Default::default()
        };
        assert!(matches!(
            Auth::from_config(&both, None, &[]),
            Err(Error::Ambiguous)
        ));
    }

    #[test]
    fn trusted_proxy_needs_proxies_the_proxy_and_a_listed_user() {
        let config = pincer_config::Auth {
            mode: Some(AuthMode::TrustedProxy),
            trusted_proxy: Some(pincer_config::TrustedProxy {
                user_header: Some("X-Auth-User".into()),
                allow_users: vec!["ana".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            Auth::from_config(&config, None, &[]),
            Err(Error::NoProxies)
        ));
        let auth = Auth::from_config(&config, None, &["127.0.0.1".into()]).unwrap();
        assert_eq!(auth.proxy_user_header(), Some("x-auth-user"));
        let via = |user: Option<&'static str>, proxy: bool| {
            auth.check(Presented {
                secret: None,
                proxy_user: user,
                proxy_secret: None,
                via_trusted_proxy: proxy,
            })
        };
        assert_eq!(via(Some("ana"), true).as_deref(), Ok("proxy-user:ana"));
        assert_eq!(via(Some("bob"), true), Err(Denied::BadCredentials));
        assert_eq!(via(None, true), Err(Denied::BadCredentials));
        assert_eq!(via(Some("ana"), false), Err(Denied::NotFromProxy));
    }

    #[test]
    fn with_a_proxy_secret_a_local_process_cannot_pose_as_the_proxy() {
        let config = pincer_config::Auth {
            mode: Some(AuthMode::TrustedProxy),
            trusted_proxy: Some(pincer_config::TrustedProxy {
                secret: Some(Secret::new("proxy-secret-0123456789abcdef")),
                ..Default::default()
            }),
            ..Default::default()
        };
        let auth = Auth::from_config(&config, None, &["127.0.0.1".into()]).unwrap();
        let via = |secret: Option<&'static str>| {
            auth.check(Presented {
                secret: None,
                proxy_user: Some("ana"),
                proxy_secret: secret,
                via_trusted_proxy: true,
            })
        };
        assert_eq!(via(None), Err(Denied::BadCredentials));
        assert_eq!(via(Some("guess")), Err(Denied::BadCredentials));
        assert!(via(Some("proxy-secret-0123456789abcdef")).is_ok());
        assert_eq!(auth.proxy_secret_header(), Some(DEFAULT_SECRET_HEADER));
    }

    #[test]
    fn explicit_none_mode_allows_everyone() {
        let config = pincer_config::Auth {
            mode: Some(AuthMode::None),
            ..Default::default()
        };
        let auth = Auth::from_config(&config, None, &[]).unwrap();
        assert!(!auth.is_required());
        assert!(auth.check(Presented::default()).is_ok());
    }
}
