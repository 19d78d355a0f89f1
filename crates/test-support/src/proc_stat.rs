//! What `/proc/<pid>/stat` says of a process.

/// The fields after the process's name (which may hold spaces and parentheses): its state first,
/// then its parent's PID. `None` once the process is gone.
fn fields_after_name(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    Some(
        stat[close + 1..]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// The PID of `pid`'s parent, `None` once it is gone.
pub fn parent_pid(pid: u32) -> Option<u32> {
    fields_after_name(pid)?.get(1)?.parse().ok()
}

/// Whether `pid` has exited and waits to be reaped; a process that is gone counts as one.
pub fn is_zombie(pid: u32) -> bool {
    fields_after_name(pid).is_none_or(|fields| fields.first().is_some_and(|state| state == "Z"))
}
