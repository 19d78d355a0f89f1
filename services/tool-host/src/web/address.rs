//! Which addresses `web_fetch` may reach: public ones. Loopback, private (RFC 1918, ULA),
//! link-local (and so the cloud metadata service at 169.254.169.254), CGNAT (tailnets),
//! multicast, documentation and reserved ranges are refused, after DNS resolution, for the first
//! URL and every redirect, unless `tools.web.fetch.ssrfPolicy` lists the host.
//!
//! Resolution happens here and the connection goes to the address checked, so a name cannot
//! resolve to a public address for the check and to a private one for the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use pincer_config::SsrfPolicy;

/// Whether `ip` is outside the public internet.
#[must_use]
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT, tailnets
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        let v4 = Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
        return private_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..4] == [0x100, 0, 0, 0] // discard
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
}

/// The hosts `policy` lets through whatever they resolve to.
#[derive(Debug, Clone, Default)]
pub struct Exceptions {
    hosts: Vec<String>,
    everything: bool,
}

impl Exceptions {
    /// From `ssrfPolicy`.
    #[must_use]
    pub fn new(policy: &SsrfPolicy) -> Self {
        Self {
            hosts: policy
                .allowed_hostnames
                .iter()
                .map(|host| normalise(host))
                .collect(),
            everything: policy.dangerously_allow_private_network,
        }
    }

    /// Whether `host` may resolve to private addresses.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        self.everything || self.hosts.contains(&normalise(host))
    }
}

/// Lower case, without brackets or a trailing dot (`[::1]`, `Example.COM.`).
fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why a host is refused; the text is what the model reads.
pub fn refusal(host: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) if ip.to_string() == normalise(host) => format!(
            "refused: {ip} is a loopback, private, link-local or otherwise non-public address"
        ),
        Some(ip) => format!(
            "refused: `{host}` resolves to {ip}, a loopback, private, link-local or otherwise non-public address"
        ),
        None => format!("refused: `{host}` has no public address"),
    }
}

/// Checks a URL's host when it is a literal address (names are checked by [`Resolver`]).
pub fn check_literal(host: &str, exceptions: &Exceptions) -> Result<(), String> {
    match normalise(host).parse::<IpAddr>() {
        Ok(ip) if is_private(ip) && !exceptions.allows(host) => Err(refusal(host, Some(ip))),
        _ => Ok(()),
    }
}

/// A DNS resolver that drops non-public answers (all of them private: an error).
#[derive(Debug, Clone)]
pub struct Resolver {
    exceptions: Arc<Exceptions>,
}

impl Resolver {
    /// Resolving under `exceptions`.
    #[must_use]
    pub fn new(exceptions: Arc<Exceptions>) -> Self {
        Self { exceptions }
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let exceptions = self.exceptions.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if exceptions.allows(&host) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let first_private = found.iter().map(SocketAddr::ip).find(|ip| is_private(*ip));
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(refusal(&host, first_private).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_private_and_public_ones_are_not() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.7",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_private(private.parse().expect(private)), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
        ] {
            assert!(!is_private(public.parse().expect(public)), "{public}");
        }
    }

    #[test]
    fn literals_are_checked_and_exceptions_named() {
        let none = Exceptions::default();
        assert!(check_literal("127.0.0.1", &none).is_err());
        assert!(check_literal("[::1]", &none).is_err());
        assert!(
            check_literal("example.com", &none).is_ok(),
            "names go to the resolver"
        );
        assert!(check_literal("8.8.8.8", &none).is_ok());
        let some = Exceptions::new(&SsrfPolicy {
            allowed_hostnames: vec!["127.0.0.1".into(), "Wiki.LAN".into()],
            dangerously_allow_private_network: false,
        });
        assert!(check_literal("127.0.0.1", &some).is_ok());
        assert!(some.allows("wiki.lan.") && !some.allows("localhost"));
        assert!(refusal("10.0.0.1", "10.0.0.1".parse().ok()).contains("10.0.0.1 is"));
    }

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused() {
        use reqwest::dns::Resolve as _;
        let resolver = Resolver::new(Arc::new(Exceptions::default()));
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let error = resolver.resolve(name).await.err().expect("refused");
        assert!(
            error.to_string().contains("`localhost` resolves to"),
            "{error}"
        );
        let allowed = Resolver::new(Arc::new(Exceptions::new(&SsrfPolicy {
            allowed_hostnames: vec!["localhost".into()],
            dangerously_allow_private_network: false,
        })));
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        assert!(allowed.resolve(name).await.is_ok());
    }
}
