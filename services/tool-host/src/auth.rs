//! Every tool-host call carries `authorization: Bearer <PINCER_TOOL_HOST_TOKEN>`: a process that
//! reaches the port without it (a compromised neighbour, a tool child) gets `UNAUTHENTICATED`.
//! Tokens are compared as SHA-256 digests in constant time, so neither their content nor their
//! length leaks through timing.

use pincer_config::Secret;
use subtle::ConstantTimeEq as _;

/// The metadata key of the token.
pub const AUTHORIZATION: &str = "authorization";

/// Checks the bearer token of each request (none configured: loopback only, every call passes).
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
            Some(_) => Err(tonic::Status::unauthenticated("wrong tool host token")),
            None => Err(tonic::Status::unauthenticated(
                "missing `authorization: Bearer <PINCER_TOOL_HOST_TOKEN>`",
            )),
        }
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
    }
}
