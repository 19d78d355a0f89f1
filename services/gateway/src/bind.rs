//! From OpenClaw's `gateway.bind` to the address the listener binds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use pincer_config::Bind;

/// The bind cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `custom` without `customBindHost`, or an unparsable host.
    #[error("gateway.bind is \"custom\" but gateway.customBindHost {0}")]
    CustomHost(&'static str),
    /// A non-loopback bind with auth disabled.
    #[error(
        "refusing to bind the gateway to {0} without auth: set gateway.auth.mode to \"token\" or bind to loopback"
    )]
    OpenWithoutAuth(IpAddr),
    /// `PINCER_GATEWAY_BIND` holds something that is not a bind mode or address.
    #[error(
        "PINCER_GATEWAY_BIND={0:?} is not one of loopback, lan, tailnet, custom, auto or an IP address"
    )]
    BadOverride(String),
}

/// Resolves the listen address. `override_bind` is `PINCER_GATEWAY_BIND` (containers set `lan`,
/// since a loopback bind inside a bridge network is unreachable from the published port).
pub fn resolve(
    bind: &Bind,
    custom_host: Option<&str>,
    port: u16,
    override_bind: Option<&str>,
    auth_required: bool,
) -> Result<SocketAddr, Error> {
    let overridden;
    let bind = match override_bind.filter(|b| !b.trim().is_empty()) {
        Some(raw) => {
            overridden =
                Bind::parse(raw.trim()).ok_or_else(|| Error::BadOverride(raw.to_owned()))?;
            &overridden
        }
        None => bind,
    };
    let ip = match bind {
        Bind::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Bind::Lan => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Bind::Tailnet => match tailnet_address() {
            Some(ip) => IpAddr::V4(ip),
            None => {
                // No tailnet interface: stay private rather than guess.
                tracing::warn!(
                    "gateway.bind \"tailnet\": no 100.64.0.0/10 address on this host (is tailscale up?), binding loopback"
                );
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        },
        Bind::Custom => custom_host
            .ok_or(Error::CustomHost("is not set"))?
            .parse()
            .map_err(|_| Error::CustomHost("is not an IP address"))?,
        Bind::Auto if in_container() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Bind::Auto => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Bind::Address(ip) => *ip,
    };
    if !ip.is_loopback() && !auth_required {
        return Err(Error::OpenWithoutAuth(ip));
    }
    Ok(SocketAddr::new(ip, port))
}

/// Whether `ip` is in 100.64.0.0/10, the range Tailscale assigns node addresses from.
pub fn is_tailnet(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 100 && (b & 0xc0) == 64
}

/// This host's tailnet address, if an interface has one.
fn tailnet_address() -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter_map(|interface| {
            interface
                .address
                .and_then(|address| address.as_sockaddr_in().map(|v4| v4.ip()))
        })
        .find(|ip| is_tailnet(*ip))
}

fn in_container() -> bool {
    std::path::Path::new("/.dockerenv").is_file() || std::env::var_os("container").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_addresses() {
        let addr = resolve(&Bind::Loopback, None, 18789, None, true).unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:18789");
        let addr = resolve(&Bind::Lan, None, 1, None, true).unwrap();
        assert_eq!(addr.to_string(), "0.0.0.0:1");
        let addr = resolve(
            &Bind::Address("127.0.0.1".parse().unwrap()),
            None,
            2,
            None,
            false,
        )
        .unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:2");
        let addr = resolve(&Bind::Custom, Some("10.1.2.3"), 3, None, true).unwrap();
        assert_eq!(addr.to_string(), "10.1.2.3:3");
    }

    #[test]
    fn the_override_wins() {
        let addr = resolve(&Bind::Loopback, None, 4, Some("lan"), true).unwrap();
        assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(matches!(
            resolve(&Bind::Loopback, None, 4, Some("everywhere"), true),
            Err(Error::BadOverride(_))
        ));
    }

    #[test]
    fn tailnet_is_100_64_slash_10_and_falls_back_to_loopback() {
        assert!(is_tailnet(Ipv4Addr::new(100, 64, 0, 1)));
        assert!(is_tailnet(Ipv4Addr::new(100, 127, 255, 254)));
        assert!(!is_tailnet(Ipv4Addr::new(100, 128, 0, 1)));
        assert!(!is_tailnet(Ipv4Addr::new(100, 63, 0, 1)));
        // This machine has no tailnet interface: a private fallback, never 0.0.0.0.
        let addr = resolve(&Bind::Tailnet, None, 9, None, false).unwrap();
        assert!(addr.ip().is_loopback() || tailnet_address().is_some());
    }

    /// Every bind × auth combination: open addresses need auth, loopback never does.
    #[test]
    fn bind_and_auth_matrix() {
        let binds = [
            (Bind::Loopback, true),
            (Bind::Lan, false),
            (Bind::Custom, false),
            (Bind::Address("127.0.0.1".parse().unwrap()), true),
            (Bind::Address("::1".parse().unwrap()), true),
            (Bind::Address("0.0.0.0".parse().unwrap()), false),
            (Bind::Address("192.168.1.2".parse().unwrap()), false),
        ];
        for (bind, private) in binds {
            for auth_required in [true, false] {
                let result = resolve(&bind, Some("10.0.0.5"), 18789, None, auth_required);
                if private || auth_required {
                    assert!(result.is_ok(), "{bind} auth={auth_required}");
                } else {
                    let error = result.expect_err("open bind without auth").to_string();
                    assert!(
                        error.contains("without auth") && error.contains("gateway.auth.mode"),
                        "{error}"
                    );
                }
            }
        }
    }

    #[test]
    fn open_binds_need_auth() {
        assert!(matches!(
            resolve(&Bind::Lan, None, 5, None, false),
            Err(Error::OpenWithoutAuth(_))
        ));
        assert!(matches!(
            resolve(&Bind::Custom, None, 5, None, true),
            Err(Error::CustomHost(_))
        ));
    }
}
