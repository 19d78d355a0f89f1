//! `pincer gateway start|stop|restart|logs|status` on an installed systemd deployment: what
//! `systemctl` and `journalctl` are asked, and what their answers mean.

use std::process::{Command, ExitCode};

use super::{Process, Scope, TARGET};
use crate::target::exit;

/// Runs `command` with its output on the terminal; its exit code, or 69 when it cannot run.
pub fn run(mut command: Command) -> ExitCode {
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!("pincer: cannot run {:?}: {error}", command.get_program());
            ExitCode::from(exit::UNAVAILABLE)
        }
    }
}

/// The unit `service` names (`None`: the target), or an error naming the ones that exist.
pub fn unit_of(service: Option<&str>) -> Result<String, String> {
    match service {
        None => Ok(TARGET.to_owned()),
        Some(name) => Process::named(name)
            .map(Process::unit)
            .ok_or_else(|| format!("no service {name:?}: one of {}", super::process_names())),
    }
}

/// `systemctl <verb> <unit>`.
pub fn systemctl(scope: Scope, verb: &str, unit: &str) -> ExitCode {
    let mut command = scope.systemctl();
    command.args([verb, unit]);
    run(command)
}

/// Whether the manager of `scope` answers (when not, nothing of it runs).
pub fn manager_reachable(scope: Scope) -> bool {
    scope
        .systemctl()
        .arg("show-environment")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Whether `process`'s unit has failed (crashed more often than it may restart).
pub fn failed(scope: Scope, process: Process) -> bool {
    scope
        .systemctl()
        .args(["is-failed", "--quiet", &process.unit()])
        .status()
        .is_ok_and(|status| status.success())
}

/// `journalctl` for one service or all of them.
pub fn logs(scope: Scope, service: Option<&str>, follow: bool, tail: usize) -> ExitCode {
    let units = match service {
        Some(name) => match Process::named(name) {
            Some(process) => vec![process.unit()],
            None => {
                eprintln!(
                    "pincer: no service {name:?}: one of {}",
                    super::process_names()
                );
                return ExitCode::from(exit::USAGE);
            }
        },
        None => Process::ALL.into_iter().map(Process::unit).collect(),
    };
    let mut command = scope.journalctl();
    command.args(["--no-pager", "--lines", &tail.to_string()]);
    for unit in &units {
        command.args(["--unit", unit]);
    }
    if follow {
        command.arg("--follow");
    }
    run(command)
}

/// One unit's state, for `pincer gateway status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitState {
    /// `pincer-gateway.service`.
    pub unit: String,
    /// `active (running)`, `failed (failed)`, `inactive (dead)`.
    pub state: String,
    /// Its cgroup's memory in bytes, when systemd counts it.
    pub memory: Option<u64>,
}

/// Every service unit's state (empty when systemd cannot be asked).
pub fn states(scope: Scope) -> Vec<UnitState> {
    let units: Vec<String> = Process::ALL.into_iter().map(Process::unit).collect();
    let output = scope
        .systemctl()
        .args(["show", "--property=Id,ActiveState,SubState,MemoryCurrent"])
        .args(&units)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_show(&String::from_utf8_lossy(&output.stdout))
        }
        _ => Vec::new(),
    }
}

/// `systemctl show` output: one block of `Key=value` lines per unit, blank lines between.
fn parse_show(text: &str) -> Vec<UnitState> {
    text.split("\n\n")
        .filter_map(|block| {
            let value = |key: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            };
            Some(UnitState {
                unit: value("Id")?.to_owned(),
                state: format!(
                    "{} ({})",
                    value("ActiveState").unwrap_or("?"),
                    value("SubState").unwrap_or("?")
                ),
                memory: value("MemoryCurrent").and_then(|m| m.parse().ok()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_show_is_read_per_unit() {
        let text = "Id=pincer-nats.service\nActiveState=active\nSubState=running\nMemoryCurrent=9134080\n\nMemoryCurrent=[not set]\nId=pincer-gateway.service\nActiveState=failed\nSubState=failed\n";
        let states = parse_show(text);
        assert_eq!(
            states,
            vec![
                UnitState {
                    unit: "pincer-nats.service".to_owned(),
                    state: "active (running)".to_owned(),
                    memory: Some(9_134_080),
                },
                UnitState {
                    unit: "pincer-gateway.service".to_owned(),
                    state: "failed (failed)".to_owned(),
                    memory: None,
                },
            ]
        );
    }

    #[test]
    fn services_are_named_as_in_compose() {
        assert_eq!(unit_of(None).unwrap(), "pincer.target");
        assert_eq!(
            unit_of(Some("agent-runner")).unwrap(),
            "pincer-agent-runner.service"
        );
        assert_eq!(
            unit_of(Some("pincer-nats.service")).unwrap(),
            "pincer-nats.service"
        );
        let error = unit_of(Some("postgres")).unwrap_err();
        assert!(error.contains("tool-host"), "{error}");
    }
}
