//! Results reused for a while (`cacheTtlMinutes`): the same page or query asked twice in a
//! conversation costs one request. Bounded; the oldest entry goes first.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Entries kept at most.
const CAPACITY: usize = 64;

/// A small time-bounded cache of texts.
#[derive(Debug)]
pub struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, String)>>,
}

impl Cache {
    /// Entries live `ttl` (zero: nothing is kept).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The fresh entry for `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, text)| text.clone())
    }

    /// Keeps `text` for `key`.
    pub fn put(&self, key: &str, text: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key.to_owned(), (Instant::now(), text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let cache = Cache::new(Duration::from_secs(60));
        for index in 0..(CAPACITY + 10) {
            cache.put(&index.to_string(), "x");
        }
        assert!(cache.get("0").is_none(), "the oldest went first");
        assert_eq!(cache.get(&(CAPACITY + 9).to_string()).as_deref(), Some("x"));
        let off = Cache::new(Duration::ZERO);
        off.put("k", "v");
        assert!(off.get("k").is_none());
    }
}
