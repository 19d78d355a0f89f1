//! Shared server state: the live knobs and the recorder.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::knobs::{KnobError, Knobs, ScriptStep};
use crate::record::Recorder;

/// State shared by every request of one fake; cheap to clone.
#[derive(Debug, Clone)]
pub struct FakeState {
    knobs: Arc<Mutex<Knobs>>,
    recorder: Arc<Recorder>,
}

impl FakeState {
    /// New state with `knobs` and an empty recorder.
    pub fn new(knobs: Knobs) -> Self {
        Self {
            knobs: Arc::new(Mutex::new(knobs)),
            recorder: Arc::new(Recorder::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Knobs> {
        self.knobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.lock().clone()
    }

    /// Replaces the knobs; later requests see the new values.
    pub fn set_knobs(&self, knobs: Knobs) {
        *self.lock() = knobs;
    }

    /// Replaces the top-level fields given in `patch` (see [`Knobs::merged`]); returns the
    /// resulting knobs. Nothing changes on error.
    pub fn update_knobs(&self, patch: Value) -> Result<Knobs, KnobError> {
        let mut knobs = self.lock();
        let merged = knobs.merged(patch)?;
        *knobs = merged.clone();
        Ok(merged)
    }

    /// The recorder of this fake.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The knobs for one chat request, and the scripted step it answers (taken off the script).
    /// If a failure is limited to N more requests, this request uses one of them: the stored
    /// count goes down and the failure is cleared after the last one.
    pub(crate) fn knobs_for_chat(&self) -> (Knobs, Option<ScriptStep>) {
        let mut knobs = self.lock();
        let step = (!knobs.script.is_empty()).then(|| knobs.script.remove(0));
        let mut snapshot = knobs.clone();
        if let Some(failure) = knobs.fail.as_mut() {
            match failure.times {
                None => {}
                Some(0) => {
                    knobs.fail = None;
                    snapshot.fail = None;
                }
                Some(1) => knobs.fail = None,
                Some(n) => failure.times = Some(n - 1),
            }
        }
        (snapshot, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::Failure;

    #[test]
    fn script_steps_are_taken_one_per_chat_in_order() {
        let step = |text: &str| crate::knobs::ScriptStep {
            text: text.to_owned(),
            tool: None,
        };
        let state = FakeState::new(Knobs {
            script: vec![step("one"), step("two")],
            ..Knobs::default()
        });
        assert_eq!(state.knobs_for_chat().1, Some(step("one")));
        assert_eq!(state.knobs_for_chat().1, Some(step("two")));
        assert_eq!(state.knobs_for_chat().1, None);
        assert!(state.knobs().script.is_empty());
    }

    #[test]
    fn counted_failure_runs_out() {
        let state = FakeState::new(Knobs {
            fail: Some(Failure {
                times: Some(2),
                ..Failure::default()
            }),
            ..Knobs::default()
        });
        assert!(state.knobs_for_chat().0.fail.is_some());
        assert!(state.knobs_for_chat().0.fail.is_some());
        assert!(state.knobs_for_chat().0.fail.is_none());
        assert!(state.knobs().fail.is_none());
    }
}
