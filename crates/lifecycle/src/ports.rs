//! Loopback ports for processes that must be told where to listen (`pincer dev`'s children, test
//! and benchmark stacks).
//!
//! A port the kernel picked (`bind` to port 0) and that was closed again is a port the kernel may
//! pick again: for the next `bind` to port 0 in this or another process, or as the local port of
//! an outgoing connection, and a server told to listen there then fails to start (seen: NATS's
//! monitoring port and the gateway's, handed out by two processes). So ports are taken below the
//! kernel's ephemeral range (`net.ipv4.ip_local_port_range`), where it picks none, at random,
//! checked free by binding, and never twice in one process.

use std::collections::BTreeSet;
use std::hash::{BuildHasher as _, RandomState};
use std::net::TcpListener;
use std::sync::Mutex;

/// Ports handed out by this process.
static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The lowest port handed out: well-known and registered services crowd the ports below.
const LOWEST: u16 = 10_000;

/// Ports tried before falling back to one the kernel picks.
const ATTEMPTS: usize = 64;

/// A loopback port that was free a moment ago, outside the kernel's ephemeral range when it
/// leaves room below it, and not handed out by this process before.
pub fn free_port() -> std::io::Result<u16> {
    let below = ephemeral_range_start();
    let random = RandomState::new();
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if below > LOWEST {
        for attempt in 0..ATTEMPTS {
            let offset = random.hash_one(attempt) % u64::from(below - LOWEST);
            let port = LOWEST + u16::try_from(offset).unwrap_or(0);
            if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.insert(port);
                return Ok(port);
            }
        }
    }
    // No room below the range, or nothing free there: a port the kernel picks.
    for _ in 0..ATTEMPTS {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if given.insert(port) {
            return Ok(port);
        }
    }
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|addr| addr.port())
}

/// The first port of `net.ipv4.ip_local_port_range` (Linux's default when it cannot be read).
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_handed_out_once_below_the_ephemeral_range_and_are_free() {
        let below = ephemeral_range_start();
        let ports: Vec<u16> = (0..200).map(|_| free_port().expect("a port")).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        if below > LOWEST + 1000 {
            assert!(
                ports.iter().all(|port| (LOWEST..below).contains(port)),
                "{ports:?} not in {LOWEST}..{below}"
            );
        }
        let port = free_port().expect("a port");
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
