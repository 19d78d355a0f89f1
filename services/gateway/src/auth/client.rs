//! The client's address: the peer, or, when the peer is a trusted proxy, the last address in
//! `X-Forwarded-For` that is not one of the proxies (earlier entries are the client's own claims).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// `gateway.trustedProxies`, parsed.
#[derive(Clone, Debug, Default)]
pub struct Proxies(Vec<IpNet>);

/// An entry of `gateway.trustedProxies` is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error("gateway.trustedProxies[{index}] = {value:?} is not an IP address or CIDR block")]
pub struct BadProxy {
    /// Position in the list.
    pub index: usize,
    /// The entry.
    pub value: String,
}

impl Proxies {
    /// Parses addresses (`10.0.0.1`) and blocks (`10.0.0.0/8`).
    pub fn parse(entries: &[String]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                let raw = raw.trim();
                raw.parse::<IpNet>()
                    .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy {
                        index,
                        value: raw.to_owned(),
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Entries any local process, or many machines, could send from: loopback, and blocks wider
    /// than a /24 (IPv4) or a /64 (IPv6).
    pub fn too_broad(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|net| {
                let wide = match net {
                    IpNet::V4(v4) => v4.prefix_len() < 24,
                    IpNet::V6(v6) => v6.prefix_len() < 64,
                };
                wide || canonical(net.addr()).is_loopback()
            })
            .map(ToString::to_string)
            .collect()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Where a request on a connection from `peer` comes from.
    pub fn resolve(&self, peer: IpAddr, headers: &http::HeaderMap) -> ClientAddr {
        if !self.contains(peer) {
            return ClientAddr::direct(peer);
        }
        // Walk from the right (the hops our proxies added) to the first one that is not a proxy:
        // that is the client. An entry that cannot be read ends the walk at the last trusted hop,
        // so a client cannot choose its own address by writing garbage before it.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut ip = peer;
        for entry in entries.iter().rev() {
            match parse_hop(entry) {
                Some(hop) if self.contains(hop) => ip = hop,
                Some(hop) => {
                    ip = hop;
                    break;
                }
                None => break,
            }
        }
        ClientAddr {
            ip: canonical(ip),
            via_trusted_proxy: true,
            peer: canonical(peer),
        }
    }
}

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address (rate limits are kept per address).
    pub ip: IpAddr,
    /// The connection came from a trusted proxy.
    pub via_trusted_proxy: bool,
    /// The other end of the TCP connection (the proxy, when there is one).
    pub peer: IpAddr,
}

impl ClientAddr {
    /// A client connected directly.
    pub fn direct(ip: IpAddr) -> Self {
        Self {
            ip: canonical(ip),
            via_trusted_proxy: false,
            peer: canonical(ip),
        }
    }

    /// From axum's connection info; a request without one (in-process tests) is treated as coming
    /// from an unknown, non-local address, so it gets no loopback privileges.
    pub fn peer_of(extensions: &http::Extensions) -> IpAddr {
        extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip())
    }
}

/// An `X-Forwarded-For` hop: `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1` or `[2001:db8::1]:567`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
}

/// `::ffff:1.2.3.4` is `1.2.3.4`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn loopback_and_wide_blocks_are_too_broad_to_trust_alone() {
        let proxies = Proxies::parse(&[
            "127.0.0.1".into(),
            "::ffff:127.0.0.1".into(),
            "10.0.0.0/8".into(),
            "172.18.0.5".into(),
            "192.168.1.0/24".into(),
            "fd00::/48".into(),
        ])
        .unwrap();
        assert_eq!(
            proxies.too_broad(),
            [
                "127.0.0.1/32",
                "::ffff:127.0.0.1/128",
                "10.0.0.0/8",
                "fd00::/48"
            ]
        );
    }

    #[test]
    fn only_trusted_proxies_may_name_the_client() {
        let proxies = Proxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let direct = proxies.resolve("192.0.2.7".parse().unwrap(), &headers("1.2.3.4"));
        assert_eq!(direct, ClientAddr::direct("192.0.2.7".parse().unwrap()));
        // The client can prepend anything; the last hop before our proxies is what counts.
        let proxied = proxies.resolve(
            "127.0.0.1".parse().unwrap(),
            &headers("6.6.6.6, 198.51.100.2, 10.1.1.1"),
        );
        assert_eq!(proxied.ip, "198.51.100.2".parse::<IpAddr>().unwrap());
        assert!(proxied.via_trusted_proxy);
        let mapped = proxies.resolve("::ffff:127.0.0.1".parse().unwrap(), &http::HeaderMap::new());
        assert!(mapped.via_trusted_proxy);
        // Ports are read; garbage stops the walk at the last trusted hop.
        let ported = proxies.resolve(
            "127.0.0.1".parse().unwrap(),
            &headers("203.0.113.5:4431, 10.0.0.2"),
        );
        assert_eq!(ported.ip, "203.0.113.5".parse::<IpAddr>().unwrap());
        let forged = proxies.resolve(
            "127.0.0.1".parse().unwrap(),
            &headers("1.1.1.1, not-an-ip, 10.0.0.2"),
        );
        assert_eq!(forged.ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_entries_are_named() {
        let error = Proxies::parse(&["10.0.0.1".into(), "proxy.local".into()]).unwrap_err();
        assert_eq!(error.index, 1);
        assert!(error.to_string().contains("proxy.local"));
    }
}
