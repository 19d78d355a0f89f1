//! Connecting to NATS. Services start in any order, so the first connection is retried until a
//! deadline; after that async-nats reconnects on its own for as long as the process lives.

use std::time::{Duration, Instant};

use crate::Error;

/// How long a service waits for NATS at startup before giving up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// The servers of `url`: one URL, or several separated by commas (the nodes of a cluster; the
/// client also learns the others from the server it reaches).
pub fn servers(url: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    url.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<async_nats::ServerAddr>()
                .map_err(|e| format!("{part:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|list| {
            if list.is_empty() {
                Err("no server address".to_owned())
            } else {
                Ok(list)
            }
        })
}

/// A user of the bus and its password ([`crate::access`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The NATS user.
    pub user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// `user` signing in with `password`.
    #[must_use]
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// `PINCER_NATS_USER` and `PINCER_NATS_PASSWORD`, when both are set.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Some(Self::new(
            &var("PINCER_NATS_USER")?,
            &var("PINCER_NATS_PASSWORD")?,
        ))
    }
}

/// Connects to `url` (one or several comma-separated servers) as `name`, retrying until
/// `patience` runs out. With `credentials` it signs in as that user and takes its replies under
/// the user's own inbox prefix.
pub async fn connect(
    url: &str,
    name: &str,
    credentials: Option<&Credentials>,
    patience: Duration,
) -> Result<async_nats::Client, Error> {
    let deadline = Instant::now() + patience;
    let mut backoff = Duration::from_millis(10);
    loop {
        let mut options = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(Duration::from_secs(5)));
        if let Some(credentials) = credentials {
            options = options
                .user_and_password(credentials.user.clone(), credentials.password.clone())
                .custom_inbox_prefix(crate::access::inbox_prefix(&credentials.user));
        }
        let addresses = servers(url).map_err(|reason| Error::Connect {
            url: url.to_owned(),
            reason,
        })?;
        let reason = match options.connect(addresses).await {
            Ok(client) => return Ok(client),
            // Wrong credentials do not fix themselves: say so at once.
            Err(error) if error.kind() == async_nats::ConnectErrorKind::AuthorizationViolation => {
                return Err(Error::Connect {
                    url: url.to_owned(),
                    reason: format!(
                        "the server refused the credentials of user {:?} (PINCER_NATS_USER / PINCER_NATS_PASSWORD)",
                        credentials.map_or("(none)", |c| c.user.as_str())
                    ),
                });
            }
            Err(error) => error.to_string(),
        };
        if Instant::now() + backoff > deadline {
            return Err(Error::Connect {
                url: url.to_owned(),
                reason,
            });
        }
        tracing::debug!(%url, %reason, "nats not reachable yet, retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(250));
    }
}

/// How long a stopping service waits for its last acks and publishes to reach NATS.
const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// Flushes `client` before the process exits, for at most [`FINAL_FLUSH`]: with NATS gone (it
/// was stopped first, or died) a flush waits for a reconnection that never comes, and the service
/// would outlive its own shutdown.
pub async fn final_flush(client: &async_nats::Client) {
    match tokio::time::timeout(FINAL_FLUSH, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "final nats flush failed"),
        Err(_) => tracing::warn!(
            waited = ?FINAL_FLUSH,
            "final nats flush did not finish: nats is unreachable"
        ),
    }
}

/// A service's start on the bus: connects as `name` (see [`connect`], with the start-up
/// patience) and creates or updates the streams and buckets under `namespace`. `None` when `stop`
/// completes first: NATS may take a while to come, and a SIGTERM meanwhile stops the service at
/// once instead of after the wait.
pub async fn join(
    url: &str,
    name: &str,
    credentials: Option<&Credentials>,
    namespace: &crate::Namespace,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<(async_nats::Client, async_nats::jetstream::Context)>, Error> {
    let joined = async {
        let client = connect(url, name, credentials, STARTUP_PATIENCE).await?;
        let js = async_nats::jetstream::new(client.clone());
        crate::setup::ensure_all(&js, namespace).await?;
        Ok((client, js))
    };
    tokio::select! {
        () = stop => Ok(None),
        joined = joined => joined.map(Some),
    }
}

#[cfg(test)]
mod servers_tests {
    use super::servers;

    #[test]
    fn one_or_several_servers() {
        assert_eq!(servers("nats://a:4222").unwrap().len(), 1);
        assert_eq!(
            servers("nats://a:4222, nats://b:4222,nats://c:4222")
                .unwrap()
                .len(),
            3
        );
        assert!(servers("").is_err());
        assert!(servers("nats://a:4222,::bad::").is_err());
    }
}
