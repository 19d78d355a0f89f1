//! Starts a stack run with its executables out of the page cache.
//!
//! On kernels that keep files in large folios (ext4 since Linux 6.16), a fault maps the whole
//! folio around the page, and how a file's folios were formed depends on how it was last written
//! or read: the same binaries, copied with `cp` and with `cat`, measured 36.2 and 37.6 MiB idle
//! PSS. Dropping the executables first makes every run read them from disk the same way, as after
//! a reboot, so runs of different builds compare.

use std::path::{Path, PathBuf};

/// The executables a `pincer dev` run maps: the CLI, the services, NATS.
pub fn stack_executables(bin_dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![bin_dir.join("pincer"), bin_dir.join("pincer-services")];
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

/// Drops the cached pages of `paths` that no process maps (written back first). Best effort: a
/// file that cannot be dropped is named on stderr and the run goes on.
pub fn evict(paths: &[PathBuf]) {
    for path in paths {
        if let Err(error) = evict_one(path) {
            eprintln!("bench: {} stays in the page cache: {error}", path.display());
        }
    }
}

fn evict_one(path: &Path) -> std::io::Result<()> {
    use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
    let file = std::fs::File::open(path)?;
    // Dirty pages are not dropped: a binary the build just wrote is written back first.
    file.sync_data()?;
    posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of `path` in the page cache, from mincore over a mapping of it.
    fn cached_pages(path: &Path) -> usize {
        let output = std::process::Command::new("fincore")
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .arg(path)
            .output()
            .expect("fincore (util-linux)");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse::<usize>()
            .expect("a byte count")
            / 4096
    }

    #[test]
    fn a_written_file_leaves_the_page_cache() {
        // Beside the sources, not in /tmp: a tmpfs keeps its files in memory, never to be dropped.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        let path = dir.path().join("binary");
        std::fs::write(&path, vec![7_u8; 1 << 20]).expect("write");
        assert!(cached_pages(&path) > 0, "a file just written is cached");
        evict(std::slice::from_ref(&path));
        assert_eq!(cached_pages(&path), 0);
    }
}
