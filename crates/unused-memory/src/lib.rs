//! Gives back memory a service has stopped using: the pages of its executable that only start-up
//! (or a burst of work now over) needed, and the free pages of its heap ([`trim_heap`]).
//!
//! A service's start-up runs code it never runs again: reading and checking the whole config
//! file, building TLS roots, connecting and creating streams. The kernel maps not only each page a
//! process touches but its neighbours too (fault-around), so once a service is up most of its
//! executable is mapped: 20 of a 26 MB binary across the services under `pincer dev`, all of it
//! counted in their RSS and PSS. [`release`] drops this process's page-table entries for its
//! executable (`MADV_DONTNEED`). The pages it still runs are mapped again on their next access,
//! from the page cache (or from the file, if the kernel has reclaimed them meanwhile: a major
//! fault, paid once). The others stay in the page cache like any file's pages, reclaimable without
//! the protection the kernel gives mapped code, and no longer counted as the process's. In a
//! container the page cache stays charged to whichever cgroup first read the file.
//!
//! Not done: dropping those pages from the page cache (`POSIX_FADV_DONTNEED`). With large folios
//! a cached folio stays while any of its pages is mapped, so it dropped almost nothing; and in a
//! container it made the service read its code back from disk, now charged to its own cgroup.
//!
//! Only read-only mappings of the executable that hold no private page, in memory or in swap, are
//! touched: their bytes are the file's, so reading them again gives the same bytes. Relocated data
//! (RELRO) is private memory the file cannot restore and stays.

#![warn(missing_docs)]

mod heap;
mod smaps;

pub use heap::trim_heap;

use std::io;

/// What [`release`] unmapped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings of the executable unmapped.
    pub mappings: usize,
    /// What of them was mapped before, in KiB.
    pub resident_kib: u64,
}

/// Why nothing was unmapped.
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
    /// The kernel refused `madvise(MADV_DONTNEED)`.
    #[error("madvise(MADV_DONTNEED) failed: {0}")]
    Unmap(io::Error),
}

/// Unmaps this process's pages of its executable. Call it when start-up, or a burst of work, is
/// over: the pages it still runs are mapped again on their next access.
pub fn release() -> Result<Released, Error> {
    let mut released = Released::default();
    let mut refused = None;
    for mapping in file_pages_of_the_executable()? {
        match unmap_file_pages(mapping.start, mapping.end - mapping.start) {
            Ok(()) => {
                released.mappings += 1;
                released.resident_kib += mapping.resident_kib;
            }
            // Locked memory (mlock) refuses; the other mappings may still go.
            Err(error) => refused = refused.or(Some(error)),
        }
    }
    match refused {
        Some(error) if released.mappings == 0 => Err(Error::Unmap(error)),
        _ => Ok(released),
    }
}

/// The read-only mappings of this process's executable that hold no private page.
fn file_pages_of_the_executable() -> Result<Vec<smaps::Mapping>, Error> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(|source| Error::Proc {
        path: "/proc/self/exe",
        source,
    })?;
    let smaps = std::fs::read("/proc/self/smaps").map_err(|source| Error::Proc {
        path: "/proc/self/smaps",
        source,
    })?;
    // Lossy on both sides: another mapping whose path reads the same is as safe to drop (the same
    // checks apply to it), and a path smaps escapes (a newline in it) matches nothing.
    let smaps = String::from_utf8_lossy(&smaps);
    Ok(smaps::file_pages_of(&smaps, &exe.to_string_lossy()))
}

/// Drops this process's page-table entries for `len` bytes at `start`, a whole read-only mapping
/// of the executable with no private page.
#[allow(unsafe_code)]
fn unmap_file_pages(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: after MADV_DONTNEED a private file mapping reads its pages from the file again, and
    // loses its private copies of pages, in memory or in swap. This mapping has none (smaps listed
    // `Anonymous: 0 kB` and `Swap: 0 kB`) and cannot get one: it is read-only, so no write copies a
    // page. The same bytes are read back; code runs on after a page fault. (A breakpoint a
    // debugger wrote in between through ptrace would be lost: no memory safety is at stake.) The
    // range is a whole mapping the kernel listed.
    let result = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kib_of_the_executable() -> u64 {
        file_pages_of_the_executable()
            .expect("smaps")
            .iter()
            .map(|mapping| mapping.resident_kib)
            .sum()
    }

    #[test]
    fn the_executables_pages_are_let_go_and_its_code_runs_on() {
        let released = release().expect("release on Linux");
        assert!(
            released.mappings >= 1,
            "the test binary's code mapping was not found: {released:?}"
        );
        assert!(released.resident_kib > 0, "{released:?}");
        // What runs after it is mapped again on demand: far less than what was resident.
        let after = resident_kib_of_the_executable();
        assert!(
            after < released.resident_kib,
            "{after} KiB resident after releasing {released:?}"
        );
        // Code that ran before runs again: its pages come back.
        assert_eq!(
            release().expect("second release").mappings,
            released.mappings
        );
    }
}
