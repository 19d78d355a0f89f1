//! Gives memory back when a service stops using it: once start-up is over, and after each burst of
//! work (what is given back: see `pincer_unused_memory`).
//!
//! A burst of turns maps the code they run (with whole neighbouring folios, as start-up does) and
//! grows the heap; when it ends, the code stays mapped and glibc keeps the freed heap pages for
//! the next burst, so a service that was busy an hour ago still holds what the busy hour used.
//! Process CPU time tells the bursts apart without a hook in any service: a window of
//! [`WINDOW`] in which the process used more than [`QUIET_CPU`] was busy; the first quiet window
//! after a busy one gives the memory back. A steady trickle of turns never makes a window busy and
//! keeps what it maps.

use std::time::Duration;

/// Time after which a service's start-up is over: services are ready within a few hundred
/// milliseconds of a NATS server that is up.
const STARTUP: Duration = Duration::from_secs(2);

/// How often the process looks at the CPU time it used.
const WINDOW: Duration = Duration::from_secs(5);

/// CPU time in a window above which the window was busy: 1% of one core. A turn costs a service
/// well under a millisecond, so this is a few hundred turns a window.
const QUIET_CPU: Duration = Duration::from_millis(50);

/// Gives back the executable's start-up pages after [`STARTUP`], then the pages and free heap of
/// each burst of work once it is over. Runs until the runtime stops.
pub(crate) async fn watch() {
    tokio::time::sleep(STARTUP).await;
    give_back("start-up");
    if let Err(error) = give_back_after_bursts().await {
        tracing::debug!(%error, "CPU time unreadable: memory is not given back after bursts");
    }
}

/// Gives memory back at the end of each burst of work; returns only if CPU time cannot be read.
async fn give_back_after_bursts() -> nix::Result<()> {
    let mut bursts = Bursts::new(cpu_time()?);
    let mut windows = tokio::time::interval_at(tokio::time::Instant::now() + WINDOW, WINDOW);
    windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        windows.tick().await;
        if bursts.ended(cpu_time()?) {
            give_back("a burst of work");
            // What giving back cost is not work of the next window.
            bursts.last = cpu_time()?;
        }
    }
}

/// Unmaps the executable's pages, then trims the heap (after the unmapping, which reads smaps
/// into buffers of its own). Best effort: what is kept costs memory, not correctness.
fn give_back(after: &str) {
    let released = pincer_unused_memory::release();
    let trimmed = pincer_unused_memory::trim_heap();
    match released {
        Ok(released) => tracing::debug!(
            after,
            mappings = released.mappings,
            resident_kib = released.resident_kib,
            trimmed,
            "unused memory given back"
        ),
        Err(error) => tracing::debug!(after, %error, trimmed, "executable pages kept mapped"),
    }
}

/// User and system CPU time of the whole process (every thread) so far.
fn cpu_time() -> nix::Result<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let time = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
    };
    Ok(time(usage.user_time()) + time(usage.system_time()))
}

/// Tells when a burst of work ends, from the process's CPU time at the end of each window.
#[derive(Debug)]
struct Bursts {
    /// CPU time at the end of the last window.
    last: Duration,
    /// Whether a busy window came since memory was last given back.
    busy: bool,
}

impl Bursts {
    fn new(now: Duration) -> Self {
        Self {
            last: now,
            busy: false,
        }
    }

    /// Takes the CPU time at the end of a window; true when this window was the first quiet one
    /// after a busy one.
    fn ended(&mut self, now: Duration) -> bool {
        let used = now.saturating_sub(self.last);
        self.last = now;
        if used > QUIET_CPU {
            self.busy = true;
            false
        } else {
            std::mem::replace(&mut self.busy, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows' CPU use in milliseconds -> the windows after which memory is given back.
    fn given_back_after(windows_ms: &[u64]) -> Vec<usize> {
        let mut total = Duration::from_secs(3);
        let mut bursts = Bursts::new(total);
        let mut ends = Vec::new();
        for (window, ms) in windows_ms.iter().enumerate() {
            total += Duration::from_millis(*ms);
            if bursts.ended(total) {
                ends.push(window);
            }
        }
        ends
    }

    #[test]
    fn memory_is_given_back_once_after_each_burst() {
        assert_eq!(
            given_back_after(&[0, 900, 1200, 3, 0, 0, 400, 10, 0]),
            [3, 7]
        );
    }

    #[test]
    fn quiet_and_trickling_processes_are_left_alone() {
        assert!(given_back_after(&[0, 0, 2, 40, 50, 12, 0]).is_empty());
    }

    #[test]
    fn a_process_that_stays_busy_keeps_its_memory() {
        assert!(given_back_after(&[300, 300, 300, 300]).is_empty());
    }

    #[test]
    fn the_process_cpu_time_counts_the_work_done() {
        let before = cpu_time().expect("getrusage");
        // Spin until 50 ms of CPU time are counted: on a busy machine that takes longer than 50 ms
        // of wall time, never 30 s unless the count does not move.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut x = 0_u64;
        let used = loop {
            x = std::hint::black_box(x.wrapping_add(1));
            let used = cpu_time().expect("getrusage").saturating_sub(before);
            if used >= Duration::from_millis(50) || std::time::Instant::now() > deadline {
                break used;
            }
        };
        assert!(
            used >= Duration::from_millis(50),
            "only {used:?} counted in 30 s"
        );
    }
}
