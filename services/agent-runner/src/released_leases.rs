//! The revisions at which this runner gave session leases back, so that its next turn of the same
//! session takes the lease again in one bus request (`pincer_bus::lease::reacquire`) instead of
//! three. Only a hint: a stale or forgotten one costs the full acquire, never a wrong lease (a
//! bucket made again after a NATS restart counts from a random point: `setup::leases_bucket`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Sessions remembered at most: at 16 bytes each (a hash of the key, a revision), at most about
/// 140 KB with the table's slack. The conversations of a busy hour; beyond it, an arbitrary one is
/// forgotten.
const REMEMBERED: usize = 4096;

/// Hash of a lease key → revision of this runner's release record. Two keys with one hash are
/// harmless: a revision is one message's sequence, so another key's can never be this key's last,
/// and the update it is tried with fails into the full acquire.
#[derive(Debug, Default)]
pub struct ReleasedLeases {
    by_key_hash: Mutex<HashMap<u64, u64>>,
    hasher: RandomState,
}

impl ReleasedLeases {
    /// The revision at which `key` was released here, forgetting it (the caller takes the lease).
    pub fn take(&self, key: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(key);
        self.lock().remove(&hash)
    }

    /// Notes that `key` was released here at `revision`.
    pub fn remember(&self, key: &str, revision: u64) {
        let hash = self.hasher.hash_one(key);
        let mut released = self.lock();
        if released.len() >= REMEMBERED
            && !released.contains_key(&hash)
            && let Some(forgotten) = released.keys().next().copied()
        {
            released.remove(&forgotten);
        }
        released.insert(hash, revision);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, u64>> {
        // The map holds hints only: one left half-updated by a panic is still safe to use.
        self.by_key_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_release_is_taken_once() {
        let released = ReleasedLeases::default();
        released.remember("s1", 7);
        released.remember("s1", 9);
        assert_eq!(released.take("s1"), Some(9));
        assert_eq!(released.take("s1"), None);
        assert_eq!(released.take("s2"), None);
    }

    #[test]
    fn it_remembers_a_bounded_number_of_sessions() {
        let released = ReleasedLeases::default();
        for n in 0..REMEMBERED as u64 + 10 {
            released.remember(&format!("s{n}"), n);
        }
        assert_eq!(released.lock().len(), REMEMBERED);
        // The newest is always kept.
        let newest = REMEMBERED as u64 + 9;
        assert_eq!(released.take(&format!("s{newest}")), Some(newest));
    }
}
