//! Request authentication. Comparisons run in constant time and failures never say why, so a
//! client cannot probe for the token.

use pincer_config::{AuthMode, Secret};
use subtle::ConstantTimeEq;

/// The resolved auth policy.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No auth (allowed only on loopback binds).
    None,
    /// `Authorization: Bearer <token>`.
    Token(Secret),
    /// `Authorization: Bearer <password>` (the OpenAI API has no other place for it).
    Password(Secret),
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
    /// trusted-proxy is not implemented yet.
    #[error("gateway.auth.mode \"trusted-proxy\" is not supported yet; use \"token\"")]
    Unsupported,
}

impl Auth {
    /// Resolves the configured mode; `env_token` (`PINCER_GATEWAY_TOKEN`) fills a missing token.
    pub fn from_config(
        auth: &pincer_config::Auth,
        env_token: Option<String>,
    ) -> Result<Self, Error> {
        let token = auth
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| env_token.filter(|t| !t.trim().is_empty()).map(Secret::new));
        let mode = match auth.mode {
            Some(mode) => mode,
            None if auth.password.is_some() && token.is_none() => AuthMode::Password,
            None => AuthMode::Token,
        };
        match mode {
            AuthMode::None => Ok(Self::None),
            AuthMode::Token => token.map(Self::Token).ok_or(Error::MissingToken),
            AuthMode::Password => auth
                .password
                .clone()
                .filter(|p| !p.is_empty())
                .map(Self::Password)
                .ok_or(Error::MissingPassword),
            AuthMode::TrustedProxy => Err(Error::Unsupported),
        }
    }

    /// Whether any credential is required.
    pub fn is_required(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Checks an `Authorization` header value.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let expected = match self {
            Self::None => return true,
            Self::Token(secret) | Self::Password(secret) => secret.expose().as_bytes(),
        };
        let Some(presented) = authorization.and_then(bearer) else {
            return false;
        };
        presented.as_bytes().ct_eq(expected).into()
    }
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, value) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_auth(token: &str) -> Auth {
        Auth::Token(Secret::new(token))
    }

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let auth = token_auth("s3cret");
        assert!(auth.allows(Some("Bearer s3cret")));
        assert!(auth.allows(Some("bearer  s3cret ")));
        assert!(!auth.allows(Some("Bearer s3cre")));
        assert!(!auth.allows(Some("Bearer s3cret2")));
        assert!(!auth.allows(Some("Basic s3cret")));
        assert!(!auth.allows(Some("s3cret")));
        assert!(!auth.allows(None));
    }

    #[test]
    fn token_mode_without_a_token_is_a_startup_error() {
        let config = pincer_config::Auth::default();
        assert!(matches!(
            Auth::from_config(&config, None),
            Err(Error::MissingToken)
        ));
        let resolved = Auth::from_config(&config, Some("from-env".into())).unwrap();
        assert!(resolved.allows(Some("Bearer from-env")));
    }

    #[test]
    fn explicit_none_mode_allows_everyone() {
        let config = pincer_config::Auth {
            mode: Some(AuthMode::None),
            ..Default::default()
        };
        let auth = Auth::from_config(&config, None).unwrap();
        assert!(!auth.is_required());
        assert!(auth.allows(None));
    }
}
