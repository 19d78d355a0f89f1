//! rlimits: how much memory, how many processes, how much CPU time and how large a file a child
//! may take. They are inherited by everything it starts.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::ConfineError;
use crate::policy::Limits;

/// Sets the limits on this process (soft and hard, so the child cannot raise them again). A limit
/// already lower than asked stays as it is: only a privileged process could raise it.
pub(crate) fn apply(limits: &Limits) -> Result<(), ConfineError> {
    let cpu = limits.cpu_seconds.unwrap_or(libc::RLIM_INFINITY);
    for (resource, value) in [
        (Resource::RLIMIT_DATA, limits.memory_bytes),
        (Resource::RLIMIT_NPROC, limits.processes),
        (Resource::RLIMIT_CPU, cpu),
        (Resource::RLIMIT_FSIZE, limits.file_bytes),
        (Resource::RLIMIT_NOFILE, limits.open_files),
        (Resource::RLIMIT_CORE, 0),
    ] {
        let value = match getrlimit(resource) {
            Ok((_, hard)) => value.min(hard),
            Err(_) => value,
        };
        setrlimit(resource, value, value).map_err(|errno| ConfineError::Limit {
            resource: format!("{resource:?}"),
            reason: errno.desc().to_owned(),
        })?;
    }
    Ok(())
}

/// Processes and threads this user runs now: `RLIMIT_NPROC` counts them all, so a child's
/// allowance is added on top.
#[must_use]
pub fn user_tasks() -> u64 {
    let uid = nix::unistd::getuid().as_raw();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter_map(|status| {
            let owner = status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .parse::<u32>()
                .ok()?;
            let threads = status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))?
                .trim()
                .parse::<u64>()
                .ok()?;
            (owner == uid).then_some(threads)
        })
        .sum()
}
