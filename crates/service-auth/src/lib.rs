//! Calls between services carry `authorization: Bearer <token>` (`PINCER_TOOL_HOST_TOKEN` to the
//! tool host, `PINCER_LLM_ROUTER_TOKEN` to the llm-router): a process that reaches a port without
//! it (a compromised neighbour, a tool child) gets `UNAUTHENTICATED` and cannot spend the
//! provider keys or run tools. Tokens are compared as SHA-256 digests in constant time, so
//! neither their content nor their length leaks through timing. `grpc.health.v1` stays open.
//!
//! - [`Interceptor`]: the server side.
//! - [`Caller`]: the client side, adding the token and the current trace context.

use pincer_config::Secret;
use subtle::ConstantTimeEq as _;

/// The metadata key of the token.
pub const AUTHORIZATION: &str = "authorization";

/// Checks the bearer token of each request (none configured: every call passes, for listeners on
/// loopback).
#[derive(Clone)]
pub struct Interceptor {
    expected: Option<[u8; 32]>,
}

impl Interceptor {
    /// Expects `token` (if any).
    #[must_use]
    pub fn new(token: Option<Secret>) -> Self {
        Self {
            expected: token.map(|token| digest(token.expose().as_bytes())),
        }
    }
}

/// Whether `presented` is `expected`, compared as SHA-256 digests in constant time: neither the
/// content nor the length of the secret shows in the time it takes.
#[must_use]
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    bool::from(digest(presented).ct_eq(&digest(expected)))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl tonic::service::Interceptor for Interceptor {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| digest(token.trim().as_bytes()));
        match presented {
            Some(presented) if bool::from(presented.ct_eq(expected)) => Ok(request),
            Some(_) => Err(tonic::Status::unauthenticated("wrong service token")),
            None => Err(tonic::Status::unauthenticated(
                "missing `authorization: Bearer <service token>`",
            )),
        }
    }
}

/// The token is not something a header can carry.
#[derive(Debug, thiserror::Error)]
#[error("the service token is not a valid header value")]
pub struct InvalidToken;

/// Adds the bearer token (if any) and the current trace context to each outgoing call.
#[derive(Clone, Default)]
pub struct Caller {
    header: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("token", &self.header.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Caller {
    /// Sends `token` (`None`: no token, for a server that needs none).
    pub fn new(token: Option<&Secret>) -> Result<Self, InvalidToken> {
        let header = match token {
            Some(token) => {
                let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                    format!("Bearer {}", token.expose())
                        .parse()
                        .map_err(|_| InvalidToken)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { header })
    }
}

impl tonic::service::Interceptor for Caller {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        pincer_telemetry::propagation::inject_current(
            &mut pincer_telemetry::propagation::GrpcMetadata(request.metadata_mut()),
        );
        if let Some(header) = &self.header {
            request.metadata_mut().insert(AUTHORIZATION, header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use tonic::service::Interceptor as _;

    use super::*;

    fn request(header: Option<&str>) -> tonic::Request<()> {
        let mut request = tonic::Request::new(());
        if let Some(value) = header {
            request
                .metadata_mut()
                .insert(AUTHORIZATION, value.parse().expect("ascii"));
        }
        request
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let mut check = Interceptor::new(Some(Secret::new("s3cret")));
        assert!(check.call(request(Some("Bearer s3cret"))).is_ok());
        for bad in [
            None,
            Some("Bearer wrong"),
            Some("s3cret"),
            Some("Bearer s3cre"),
        ] {
            let status = check.call(request(bad)).expect_err("refused");
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad:?}");
            assert!(!status.message().contains("s3cret"));
        }
        assert!(Interceptor::new(None).call(request(None)).is_ok());
        assert!(
            same_secret(b"abc", b"abc") && !same_secret(b"abc", b"abcd") && !same_secret(b"", b"x")
        );
    }

    #[test]
    fn a_caller_sends_what_the_server_expects() {
        let token = Secret::new("s3cret");
        let mut caller = Caller::new(Some(&token)).expect("valid");
        let sent = caller.call(tonic::Request::new(())).expect("adds");
        assert!(Interceptor::new(Some(token)).call(sent).is_ok());
        assert!(!format!("{caller:?}").contains("s3cret"));
        assert!(Caller::new(Some(&Secret::new("a\nb"))).is_err());
    }
}
