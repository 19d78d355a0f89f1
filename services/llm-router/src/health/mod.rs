//! Health of providers, API keys and models: circuit breakers with cooldowns ([`record`]), kept in
//! memory and shared through NATS KV ([`book`]) so every router replica, and a restarted router,
//! make the same decisions.

pub mod book;
pub mod record;

pub use book::HealthBook;
pub use record::{Admission, HealthRecord, State};

/// What a breaker guards. Keys are identified by a fingerprint, never by their value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A provider's endpoint: connection refused, DNS and TLS failures.
    Provider(String),
    /// One API key of a provider: auth and quota failures.
    Key {
        /// Provider id.
        provider: String,
        /// First 8 hex digits of the key's SHA-256.
        fingerprint: String,
    },
    /// One model: rate limits, overload, timeouts, broken streams.
    Model(String),
}

impl Target {
    /// The key target of `secret` on `provider`.
    pub fn key(provider: &str, secret: &pincer_config::Secret) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.expose().as_bytes());
        let fingerprint = digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Target::Key {
            provider: provider.to_owned(),
            fingerprint,
        }
    }

    /// The stable text form, also the KV key before escaping.
    pub fn name(&self) -> String {
        match self {
            Target::Provider(id) => format!("provider/{id}"),
            Target::Key {
                provider,
                fingerprint,
            } => format!("key/{provider}/{fingerprint}"),
            Target::Model(reference) => format!("model/{reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_targets_never_contain_the_key() {
        let secret = pincer_config::Secret::new("sk-or-v1-supersecret");
        let name = Target::key("openrouter", &secret).name();
        assert!(name.starts_with("key/openrouter/"));
        assert_eq!(name.len(), "key/openrouter/".len() + 8);
        assert!(!name.contains("supersecret"));
        assert_ne!(
            name,
            Target::key("openrouter", &pincer_config::Secret::new("other")).name()
        );
    }
}
