//! Gives back the pages of the executable that only start-up used.
//!
//! A service's start-up runs code it never runs again: reading and checking the whole config
//! file, building TLS roots, connecting and creating streams. The kernel maps not only each page a
//! process touches but its neighbours too (fault-around, 64 KiB), so once a service is up most of
//! its executable is resident: 20 of a 26 MB binary across the services under `pincer dev`.
//! [`release`] advises the kernel to reclaim those pages now (`MADV_PAGEOUT`), as a kernel frees
//! its init sections after boot. Pages the service still uses come back on their next access, read
//! from the file. The kernel leaves alone pages another process maps too (the services of `pincer
//! dev` share one executable), so only what this process alone touched is given back.
//!
//! Only read-only mappings of the executable that hold no private page are advised: relocated data
//! (RELRO) is private memory the file cannot restore, and paging it out would only move it to swap.

#![warn(missing_docs)]

mod smaps;

use std::io;

/// What [`release`] advised the kernel to reclaim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings of the executable advised.
    pub mappings: usize,
    /// Their resident size before the advice, in KiB (what the kernel could reclaim at most).
    pub resident_kib: u64,
}

/// Why nothing was released.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/proc/self/exe` or `/proc/self/smaps` could not be read (no procfs).
    #[error("cannot read {path}: {source}")]
    Proc {
        /// The file.
        path: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The kernel refused the advice (before Linux 5.4 it does not know `MADV_PAGEOUT`).
    #[error("madvise(MADV_PAGEOUT) failed: {0}")]
    Advise(io::Error),
}

/// Advises the kernel to reclaim the resident pages of this process's executable. Call it once,
/// when start-up is over: pages still in use are read back from the file on their next access.
pub fn release() -> Result<Released, Error> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(|source| Error::Proc {
        path: "/proc/self/exe",
        source,
    })?;
    let smaps = std::fs::read_to_string("/proc/self/smaps").map_err(|source| Error::Proc {
        path: "/proc/self/smaps",
        source,
    })?;
    let mut released = Released::default();
    for mapping in smaps::file_pages_of(&smaps, &exe.to_string_lossy()) {
        page_out(mapping.start, mapping.end - mapping.start).map_err(Error::Advise)?;
        released.mappings += 1;
        released.resident_kib += mapping.resident_kib;
    }
    Ok(released)
}

#[allow(unsafe_code)]
fn page_out(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: MADV_PAGEOUT changes where pages live, never what they hold: a reclaimed file page
    // is read again from the file, an anonymous one from swap. No memory this program reads
    // changes, and the range is a whole mapping the kernel listed in /proc/self/smaps.
    let result = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executables_code_is_advised_and_runs_on() {
        let released = release().expect("MADV_PAGEOUT on Linux >= 5.4");
        assert!(
            released.mappings >= 1,
            "the test binary's code mapping was not found: {released:?}"
        );
        assert!(released.resident_kib > 0, "{released:?}");
        // Code that ran before runs again: its pages come back from the file.
        assert_eq!(
            release().expect("second release").mappings,
            released.mappings
        );
    }
}
