//! The accept loop. Every connection is bounded before a byte of it is trusted: a cap on open
//! connections in all and per client address (beyond them a connection is closed at once), a
//! deadline for the request head (a client that trickles headers is cut off), and keep-alive
//! reuse only while the cap allows. Bodies are read only after the headers authenticated (see
//! `http::admit`) and within their own deadline.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The accept loop's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once.
    pub connections: usize,
    /// Open connections from one client address (IPv6: one /64).
    pub per_address: usize,
    /// Time to receive a request's head (line and headers).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: 1024,
            per_address: 64,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Connections per client address; a slot is given back when its connection ends.
#[derive(Debug, Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`].
struct Slot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    /// IPv6 clients are counted per /64: one host usually holds the whole prefix.
    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        }
    }

    fn take(table: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let key = Self::key(ip);
        let mut open = table.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            table: table.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown`; then stops accepting and lets open connections
/// finish (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let global = Arc::new(Semaphore::new(limits.connections));
    let per_address = Arc::new(PerAddress::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: pause instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = global.clone().try_acquire_owned() else {
            tracing::warn!(client = %peer.ip(), cap = limits.connections, "connection refused: the gateway has as many connections open as it takes");
            continue;
        };
        let Some(slot) = PerAddress::take(&per_address, peer.ip(), limits.per_address) else {
            tracing::warn!(client = %peer.ip(), cap = limits.per_address, "connection refused: too many connections from this address");
            continue;
        };
        // Streamed answers are many small writes: without TCP_NODELAY each one after the first
        // waits for the client's delayed ACK (~40 ms per SSE chunk or WebSocket event).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let app = app.clone();
            async move {
                let mut request = request.map(axum::body::Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                let response = app.oneshot(request).await;
                Ok::<_, Infallible>(match response {
                    Ok(response) => response,
                    Err(never) => match never {},
                })
            }
        });
        let connection = http
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, client = %peer.ip(), "connection ended with an error");
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_address_and_per_ipv6_prefix_and_given_back() {
        let table = Arc::new(PerAddress::default());
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let first = PerAddress::take(&table, a, 2).expect("one");
        let _second = PerAddress::take(&table, a, 2).expect("two");
        assert!(
            PerAddress::take(&table, a, 2).is_none(),
            "the third is refused"
        );
        assert!(PerAddress::take(&table, "10.0.0.2".parse().expect("ip"), 2).is_some());
        drop(first);
        assert!(
            PerAddress::take(&table, a, 2).is_some(),
            "a closed one is given back"
        );
        let v6: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let _one = PerAddress::take(&table, v6, 1).expect("first");
        assert!(PerAddress::take(&table, other, 1).is_none(), "same /64");
    }
}
