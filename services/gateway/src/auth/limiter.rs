//! Failed-auth limiting per client address (`gateway.auth.rateLimit`): more than `maxAttempts`
//! failures within `windowMs` locks the address out for `lockoutMs`. A success clears its record.
//! The table is bounded: beyond [`MAX_TRACKED`] addresses the stalest records are dropped, so a
//! flood of spoofed-looking sources cannot grow memory without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pincer_config::RateLimit;

/// Addresses tracked at most.
pub const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Record {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// The limiter.
#[derive(Debug)]
pub struct Limiter {
    policy: std::sync::RwLock<RateLimit>,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl Limiter {
    /// A limiter with `policy`.
    pub fn new(policy: RateLimit) -> Self {
        Self {
            policy: std::sync::RwLock::new(policy),
            records: Mutex::new(HashMap::new()),
        }
    }

    fn policy(&self) -> RateLimit {
        *self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the policy (config hot reload); records are kept.
    pub fn set_policy(&self, policy: RateLimit) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// The record an address counts against: an IPv6 client owns a whole /64, so its addresses
    /// share one record (rotating through them must not buy fresh attempts).
    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() && !v6.is_loopback() => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
            other => other,
        }
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.policy().exempt_loopback && super::is_loopback(ip)
    }

    /// `Err(wait)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.exempt(ip) {
            return Ok(());
        }
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(&Self::key(ip)).and_then(|r| r.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; `Err(wait)` when it started a lockout.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.exempt(ip) {
            return Ok(());
        }
        let policy = self.policy();
        let window = Duration::from_millis(policy.window_ms);
        let lockout = Duration::from_millis(policy.lockout_ms);
        let ip = Self::key(ip);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            prune(&mut records, now, window);
        }
        let record = records.entry(ip).or_insert(Record {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if now.duration_since(record.window_start) > window
            || record.locked_until.is_some_and(|until| until <= now)
        {
            *record = Record {
                window_start: now,
                failures: 0,
                locked_until: None,
            };
        }
        record.failures += 1;
        if record.failures > policy.max_attempts {
            record.locked_until = Some(now + lockout);
            return Err(lockout);
        }
        Ok(())
    }

    /// A success forgets the address's failures.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(&Self::key(ip));
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.records.lock().map_or(0, |r| r.len())
    }
}

/// Drops expired records; if none expired, the oldest half of those not locked out (a lockout is
/// never lifted early to make room).
fn prune(records: &mut HashMap<IpAddr, Record>, now: Instant, window: Duration) {
    let locked = |r: &Record| r.locked_until.is_some_and(|until| until > now);
    records.retain(|_, r| locked(r) || now.duration_since(r.window_start) <= window);
    if records.len() >= MAX_TRACKED {
        let mut starts: Vec<Instant> = records
            .values()
            .filter(|r| !locked(r))
            .map(|r| r.window_start)
            .collect();
        starts.sort_unstable();
        if let Some(cutoff) = starts.get(starts.len() / 2).copied() {
            records.retain(|_, r| locked(r) || r.window_start > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(exempt_loopback: bool) -> RateLimit {
        RateLimit {
            max_attempts: 3,
            window_ms: 1_000,
            lockout_ms: 5_000,
            exempt_loopback,
        }
    }

    #[test]
    fn locks_out_after_max_attempts_until_the_lockout_ends() {
        let limiter = Limiter::new(policy(false));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.failed(ip, t0).is_ok());
        }
        assert_eq!(limiter.failed(ip, t0), Err(Duration::from_secs(5)));
        assert!(limiter.check(ip, t0 + Duration::from_secs(4)).is_err());
        // Another address is unaffected.
        assert!(limiter.check("203.0.113.10".parse().unwrap(), t0).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_secs(6)).is_ok());
        assert!(limiter.failed(ip, t0 + Duration::from_secs(6)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_and_successes_do_not_add_up() {
        let limiter = Limiter::new(policy(false));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..10u64 {
            let at = t0 + Duration::from_millis(i * 600);
            assert!(limiter.failed(ip, at).is_ok(), "attempt {i}");
            if i % 2 == 1 {
                limiter.succeeded(ip);
            }
        }
    }

    #[test]
    fn loopback_exemption_is_opt_in() {
        let t0 = Instant::now();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let exempt = Limiter::new(policy(true));
        for _ in 0..10 {
            assert!(exempt.failed(local, t0).is_ok());
        }
        let strict = Limiter::new(policy(false));
        assert!((0..10).any(|_| strict.failed(local, t0).is_err()));
    }

    #[test]
    fn an_ipv6_client_cannot_rotate_through_its_64() {
        let limiter = Limiter::new(policy(false));
        let t0 = Instant::now();
        for host in 1..=3u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 7, 0, 0, 0, host]);
            assert!(limiter.failed(ip, t0).is_ok());
        }
        assert!(
            limiter
                .failed(IpAddr::from([0x2001, 0xdb8, 0, 7, 9, 9, 9, 9]), t0)
                .is_err()
        );
        assert!(
            limiter
                .check(IpAddr::from([0x2001, 0xdb8, 0, 8, 0, 0, 0, 1]), t0)
                .is_ok()
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = Limiter::new(policy(false));
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 * 3) {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = limiter.failed(ip, t0 + Duration::from_micros(u64::from(i)));
        }
        assert!(limiter.tracked() <= MAX_TRACKED);
    }
}
