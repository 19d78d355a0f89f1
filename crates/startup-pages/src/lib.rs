//! Gives back the pages of the executable that only start-up used.
//!
//! A service's start-up runs code it never runs again: reading and checking the whole config
//! file, building TLS roots, connecting and creating streams. The kernel maps not only each page a
//! process touches but its neighbours too (fault-around, 64 KiB), so once a service is up most of
//! its executable is resident: 20 of a 26 MB binary across the services under `pincer dev`.
//! [`release`] unmaps this process's pages of the executable (`MADV_DONTNEED`), then tells the
//! kernel to drop the file's cached pages that no process maps any more (`POSIX_FADV_DONTNEED`),
//! as a kernel frees its init sections after boot. Pages still in use come back on their next
//! access, from the page cache or the file. Where several processes run one executable (the
//! services of `pincer dev`), a page is freed once the last of them has let go of it.
//!
//! Only read-only mappings of the executable that hold no private page are unmapped: their bytes
//! are the file's, so reading them again gives the same bytes. Relocated data (RELRO) is private
//! memory the file cannot restore and stays.

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
    /// The kernel refused the advice.
    #[error("{call} failed: {source}")]
    Advise {
        /// The call.
        call: &'static str,
        /// The cause.
        source: io::Error,
    },
}

/// Unmaps this process's pages of its executable and frees those no process maps any more. Call
/// it once, when start-up is over: pages still in use come back on their next access.
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
        unmap_file_pages(mapping.start, mapping.end - mapping.start).map_err(|source| {
            Error::Advise {
                call: "madvise(MADV_DONTNEED)",
                source,
            }
        })?;
        released.mappings += 1;
        released.resident_kib += mapping.resident_kib;
    }
    // Opened through the link: the running file even if a newer one replaced it on disk.
    let file = std::fs::File::open("/proc/self/exe").map_err(|source| Error::Proc {
        path: "/proc/self/exe",
        source,
    })?;
    nix::fcntl::posix_fadvise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED)
        .map_err(|errno| Error::Advise {
            call: "posix_fadvise(POSIX_FADV_DONTNEED)",
            source: errno.into(),
        })?;
    Ok(released)
}

/// Drops this process's page-table entries for `len` bytes at `start`, a whole read-only mapping
/// of the executable with no private page.
#[allow(unsafe_code)]
fn unmap_file_pages(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: after MADV_DONTNEED a private file mapping reads its pages from the file again, and
    // loses only its private copies of pages. This mapping has none (smaps listed `Anonymous: 0
    // kB`) and cannot get one: it is read-only, so no write copies a page. The same bytes are read
    // back; code runs on after a page fault. The range is a whole mapping the kernel listed.
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
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        smaps::file_pages_of(&smaps, &exe.to_string_lossy())
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
        assert_eq!(release().expect("second release").mappings, released.mappings);
    }
}
