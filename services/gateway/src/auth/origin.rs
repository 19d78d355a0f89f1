//! Browser origins (`gateway.controlUi.allowedOrigins`).
//!
//! Requests without an `Origin` header are not from a browser page and pass. A browser request passes
//! when its origin is listed, or when it is the gateway's own page on a private host (loopback,
//! private and tailnet addresses, `localhost`, `*.ts.net`). Any other name must be listed even for
//! same-origin loads: otherwise a DNS-rebinding page (`evil.example`, or an mDNS `evil.local` on
//! the LAN, resolving to 127.0.0.1) would count as same-origin.

use std::net::IpAddr;

/// The origin policy.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    allowed: Vec<String>,
    allow_insecure_auth: bool,
}

impl Origins {
    /// From `gateway.controlUi`.
    pub fn new(allowed: &[String], allow_insecure_auth: bool) -> Self {
        Self {
            allowed: allowed.iter().map(|o| normalise(o)).collect(),
            allow_insecure_auth,
        }
    }

    /// `Err(reason)` for a browser origin that may not call the gateway.
    pub fn check(&self, headers: &http::HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let origin = normalise(origin.to_str().unwrap_or("null"));
        if self.allowed.iter().any(|a| a == "*" || *a == origin) {
            return Ok(());
        }
        let host_header = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase());
        let origin_authority = origin.split_once("://").map(|(_, rest)| rest);
        if let (Some(authority), Some(host)) = (origin_authority, host_header.as_deref())
            && authority == host
            && is_private_host(host_name(authority))
        {
            return Ok(());
        }
        Err(format!(
            "browser origin {origin} is not allowed: add it to gateway.controlUi.allowedOrigins"
        ))
    }

    /// `Err(reason)` when a browser page would send a shared secret over plain HTTP to a host that
    /// is not this machine, and `allowInsecureAuth` is off.
    pub fn check_secure_auth(&self, headers: &http::HeaderMap) -> Result<(), String> {
        let Some(origin) = headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(());
        };
        let origin = normalise(origin);
        let Some(authority) = origin.strip_prefix("http://") else {
            return Ok(());
        };
        let host = host_name(authority);
        if self.allow_insecure_auth
            || host == "localhost"
            || host.parse::<IpAddr>().is_ok_and(super::is_loopback)
        {
            return Ok(());
        }
        Err(format!(
            "signing in over plain http from {origin} would expose the token on the network: serve the gateway over https (e.g. tailscale serve) or set gateway.controlUi.allowInsecureAuth"
        ))
    }
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `host` of `host:port` / `[v6]:port`.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

fn is_private_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".ts.net") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || crate::bind::is_tailnet(v4)
        }
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, host: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(http::header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn listed_same_private_origin_and_non_browsers_pass() {
        let origins = Origins::new(&["https://pincer.tail1.ts.net/".into()], false);
        assert!(origins.check(&request(None, "127.0.0.1:18789")).is_ok());
        assert!(
            origins
                .check(&request(Some("https://PINCER.tail1.ts.net"), "x"))
                .is_ok()
        );
        assert!(
            origins
                .check(&request(Some("http://127.0.0.1:18789"), "127.0.0.1:18789"))
                .is_ok()
        );
        assert!(
            origins
                .check(&request(
                    Some("http://192.168.1.5:18789"),
                    "192.168.1.5:18789"
                ))
                .is_ok()
        );
        assert!(
            origins
                .check(&request(Some("http://[::1]:18789"), "[::1]:18789"))
                .is_ok()
        );
    }

    #[test]
    fn foreign_rebinding_and_null_origins_are_refused() {
        let origins = Origins::new(&[], false);
        let foreign = origins.check(&request(Some("https://evil.example"), "127.0.0.1:18789"));
        assert!(foreign.unwrap_err().contains("allowedOrigins"));
        // DNS rebinding: same origin as far as the browser knows, but a public name.
        assert!(
            origins
                .check(&request(
                    Some("http://evil.example:18789"),
                    "evil.example:18789"
                ))
                .is_err()
        );
        assert!(
            origins
                .check(&request(Some("null"), "127.0.0.1:18789"))
                .is_err()
        );
        // Same private host, different port: another site.
        assert!(
            origins
                .check(&request(Some("http://127.0.0.1:3000"), "127.0.0.1:18789"))
                .is_err()
        );
    }

    #[test]
    fn plain_http_sign_in_from_another_machine_needs_the_opt_in() {
        let strict = Origins::new(&[], false);
        assert!(
            strict
                .check_secure_auth(&request(Some("http://localhost:18789"), "h"))
                .is_ok()
        );
        assert!(
            strict
                .check_secure_auth(&request(Some("https://box.ts.net"), "h"))
                .is_ok()
        );
        assert!(
            strict
                .check_secure_auth(&request(Some("http://192.168.1.5:18789"), "h"))
                .is_err()
        );
        let relaxed = Origins::new(&[], true);
        assert!(
            relaxed
                .check_secure_auth(&request(Some("http://192.168.1.5:18789"), "h"))
                .is_ok()
        );
    }
}
