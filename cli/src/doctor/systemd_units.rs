//! The systemd deployment (`pincer gateway install`): whether its manager answers and each unit
//! runs. A failed unit has crashed more often than it may restart; its journal says why.

use super::{Check, State, check};
use crate::systemd::control::{self, UnitState};
use crate::systemd::{Installed, Process};

/// One check per unit, or one saying systemd cannot be asked.
pub(super) fn unit_checks(installed: &Installed, out: &mut Vec<Check>) {
    if !control::manager_reachable(installed.scope) {
        out.push(check(
            "systemd",
            State::Skip,
            format!("{} is installed but systemd does not answer here", installed.describe()),
            "for user units, log in as that user (or `sudo loginctl enable-linger $USER` so they run without a session)",
        ));
        return;
    }
    out.extend(verdicts(&control::states(installed.scope)));
}

/// The checks for the units' states (`active (running)`, `failed (failed)`, ...).
pub(super) fn verdicts(states: &[UnitState]) -> Vec<Check> {
    Process::ALL
        .into_iter()
        .map(|process| {
            let unit = process.unit();
            let name = format!("unit {unit}");
            match states.iter().find(|s| s.unit == unit) {
                None => check(
                    name,
                    State::Fail,
                    "not known to systemd",
                    "pincer gateway install (again), then pincer gateway start",
                ),
                Some(state) if state.state.starts_with("active") => {
                    check(name, State::Ok, state.state.clone(), "")
                }
                Some(state) if state.state.starts_with("failed") => check(
                    name,
                    State::Fail,
                    state.state.clone(),
                    format!("pincer gateway logs {} says why", process.name()),
                ),
                Some(state) => check(
                    name,
                    State::Warn,
                    state.state.clone(),
                    "pincer gateway start",
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(process: Process, state: &str) -> UnitState {
        UnitState {
            unit: process.unit(),
            state: state.to_owned(),
            memory: None,
        }
    }

    #[test]
    fn each_unit_is_ok_stopped_or_failed() {
        let mut states: Vec<UnitState> = Process::ALL
            .into_iter()
            .map(|p| state(p, "active (running)"))
            .collect();
        assert!(verdicts(&states).iter().all(|c| c.state == State::Ok));
        states[0] = state(Process::ALL[0], "failed (failed)");
        states[1] = state(Process::ALL[1], "inactive (dead)");
        states.pop();
        let checks = verdicts(&states);
        assert_eq!(checks.len(), Process::ALL.len(), "one per unit");
        assert_eq!(checks[0].state, State::Fail);
        assert!(
            checks[0].fix.contains("pincer gateway logs"),
            "{}",
            checks[0].fix
        );
        assert_eq!(checks[1].state, State::Warn);
        assert_eq!(
            checks.last().map(|c| c.state),
            Some(State::Fail),
            "unknown to systemd"
        );
    }
}
