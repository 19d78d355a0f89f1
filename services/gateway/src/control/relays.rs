//! The runs a control connection relays as `chat` events (its `chat.send`s): a send repeated
//! with the same `idempotencyKey` (the same run) is not relayed a second time, which gave the
//! client every delta twice and two `final`s; and `chat.abort` by session finds the session's runs.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Runs remembered per connection; the oldest finished ones are forgotten past this.
const REMEMBERED: usize = 256;

struct Relay {
    run_id: String,
    session_key: String,
    finished: bool,
}

/// The runs of one connection, newest last.
#[derive(Default)]
pub struct Relays(Mutex<VecDeque<Relay>>);

impl Relays {
    /// Takes `run_id` on for relaying; `false` when this connection relays (or relayed) it already.
    pub fn start(&self, run_id: &str, session_key: &str) -> bool {
        let mut relays = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if relays.iter().any(|relay| relay.run_id == run_id) {
            return false;
        }
        if relays.len() >= REMEMBERED
            && let Some(oldest_finished) = relays.iter().position(|relay| relay.finished)
        {
            relays.remove(oldest_finished);
        }
        relays.push_back(Relay {
            run_id: run_id.to_owned(),
            session_key: session_key.to_owned(),
            finished: false,
        });
        true
    }

    /// `run_id` ended (its last event was relayed, or the connection closed).
    pub fn finish(&self, run_id: &str) {
        let mut relays = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(relay) = relays.iter_mut().find(|relay| relay.run_id == run_id) {
            relay.finished = true;
        }
    }

    /// The runs of `session_key` still under way.
    pub fn running_in(&self, session_key: &str) -> Vec<String> {
        let relays = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        relays
            .iter()
            .filter(|relay| !relay.finished && relay.session_key == session_key)
            .map(|relay| relay.run_id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_relayed_once_and_found_by_session_while_it_runs() {
        let relays = Relays::default();
        assert!(relays.start("r1", "s"));
        assert!(!relays.start("r1", "s"), "the same run again");
        assert!(relays.start("r2", "other"));
        assert_eq!(relays.running_in("s"), ["r1"]);
        relays.finish("r1");
        assert!(relays.running_in("s").is_empty());
        assert!(
            !relays.start("r1", "s"),
            "a finished run is not relayed again"
        );
    }

    #[test]
    fn old_finished_runs_are_forgotten() {
        let relays = Relays::default();
        for i in 0..REMEMBERED {
            assert!(relays.start(&format!("r{i}"), "s"));
            relays.finish(&format!("r{i}"));
        }
        assert!(relays.start("new", "s"));
        assert!(relays.start("r0", "s"), "the oldest was forgotten");
    }
}
