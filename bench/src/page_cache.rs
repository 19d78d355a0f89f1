//! Starts a stack run with its executables out of the page cache.
//!
//! On kernels that keep files in large folios (ext4 since Linux 6.16), a fault maps the whole
//! folio around the page, and how a file's folios were formed depends on how it was last written
//! or read: the same binaries, copied with `cp` and with `cat`, measured 36.2 and 37.6 MiB idle
//! PSS. Dropping the executables first makes every run read them from disk the same way, as after
//! a reboot, so runs of different builds compare. (The cold start to ready then includes reading
//! them.)

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// What `pincer dev` may start besides itself: every service in one executable, or each its own.
const SERVICE_EXECUTABLES: [&str; 6] = [
    "pincer-services",
    "pincer-gateway",
    "pincer-agent-runner",
    "pincer-llm-router",
    "pincer-channel-bridge",
    "pincer-tool-host",
];

/// The executables a `pincer dev` run maps that are here: the CLI, the services, NATS
/// (`NATS_SERVER_BIN`, else the first `nats-server` on `PATH`).
pub fn stack_executables(bin_dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![bin_dir.join("pincer")];
    paths.extend(SERVICE_EXECUTABLES.iter().map(|name| bin_dir.join(name)));
    let nats = std::env::var_os("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("nats-server"))
                .find(|path| path.is_file())
        });
    paths.extend(nats);
    paths.retain(|path| path.is_file());
    paths
}

/// Drops the cached pages of `paths` that no process maps, each named on stderr. Best effort: a
/// file that is not dropped is named with the reason and the run goes on.
pub fn evict(paths: &[PathBuf]) {
    for path in paths {
        match evict_one(path) {
            Ok(()) => eprintln!("bench: {} dropped from the page cache", path.display()),
            Err(error) => eprintln!("bench: {} stays in the page cache: {error}", path.display()),
        }
    }
}

/// Why a file was not dropped.
#[derive(Debug, thiserror::Error)]
pub enum EvictError {
    /// Opening, reading or advising the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A wrapper (a pyenv shim is a shell script): the binary it starts is elsewhere.
    #[error("not an ELF executable (a wrapper script? set NATS_SERVER_BIN to the binary)")]
    NotElf,
}

fn evict_one(path: &Path) -> Result<(), EvictError> {
    use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0_u8; 4];
    if file.read_exact(&mut magic).is_err() || magic != *b"\x7fELF" {
        return Err(EvictError::NotElf);
    }
    // Dirty pages are not dropped: a binary the build just wrote is written back first. Advised
    // even if that fails: the clean pages still go.
    if let Err(error) = file.sync_data() {
        eprintln!("bench: {} not written back: {error}", path.display());
    }
    posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
        .map_err(|errno| EvictError::Io(errno.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of `path` in the page cache (util-linux `fincore`).
    fn cached_bytes(path: &Path) -> u64 {
        let output = std::process::Command::new("fincore")
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .arg(path)
            .output()
            .expect("fincore (util-linux) runs");
        assert!(
            output.status.success(),
            "fincore failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("fincore printed {text:?}"))
    }

    /// A scratch directory under the build's target directory: on disk, where /tmp may be a tmpfs
    /// whose files live in memory and are never dropped.
    fn scratch_dir() -> tempfile::TempDir {
        let exe = std::env::current_exe().expect("the test binary's path");
        let deps = exe.parent().expect("the test binary's directory");
        tempfile::tempdir_in(deps).expect("a scratch directory beside the test binary")
    }

    #[test]
    fn an_executable_just_written_leaves_the_page_cache() {
        let dir = scratch_dir();
        let path = dir.path().join("binary");
        let mut bytes = b"\x7fELF".to_vec();
        bytes.resize(1 << 20, 7);
        std::fs::write(&path, bytes).expect("write");
        assert!(cached_bytes(&path) > 0, "a file just written is cached");
        evict_one(&path).expect("dropped");
        assert_eq!(cached_bytes(&path), 0);
    }

    #[test]
    fn a_wrapper_script_is_named_not_dropped() {
        let dir = scratch_dir();
        let path = dir.path().join("nats-server");
        std::fs::write(&path, "#!/usr/bin/env bash\nexec real-nats-server \"$@\"\n")
            .expect("write");
        assert!(matches!(evict_one(&path), Err(EvictError::NotElf)));
    }
}
