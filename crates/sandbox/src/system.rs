//! The parts of the system every child may read: programs, libraries, certificates, time zones,
//! name resolution, a few device nodes. Nothing else under `/etc` (the Pincer config lives
//! there), nothing of `/proc` beyond the child's own entries, nothing of `/sys`, `/home`, `/root`
//! or `/var`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Read and execute: programs and libraries.
const PROGRAM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Read only: the `/etc` files programs need to run, resolve names, verify TLS and tell the time.
const ETC_FILES: &[&str] = &[
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/debian_version",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/xdg",
];

/// Read only: entropy, and the machine-wide `/proc` files runtimes size themselves by (CPU count,
/// memory). No per-process entry: another process's command line or environment stays unseen.
const READ_DEVICES: &[&str] = &[
    "/dev/random",
    "/dev/urandom",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
];

/// Read and write: the bit buckets.
pub const WRITE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// What every child may read: [`PROGRAM_DIRS`], [`ETC_FILES`], the entropy devices, the
/// directories on `path` (the child's `PATH`), and the install prefix of those under `/usr/local`
/// or `/opt` (where `bin/` sits beside `lib/`). `exclude` (the config file, the state of the tool
/// host) is never granted: a directory above it is left out.
#[must_use]
pub fn read_paths(path: Option<&OsStr>, exclude: &[&Path]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = PROGRAM_DIRS
        .iter()
        .chain(ETC_FILES)
        .chain(READ_DEVICES)
        .map(PathBuf::from)
        .collect();
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        if !dir.is_absolute() {
            continue;
        }
        let prefix = dir
            .parent()
            .filter(|parent| parent.starts_with("/usr/local") || parent.starts_with("/opt"))
            .filter(|parent| parent.components().count() > 2)
            .map(Path::to_path_buf);
        paths.push(prefix.unwrap_or(dir));
    }
    paths.retain(|candidate| {
        !exclude
            .iter()
            .any(|secret| secret.starts_with(candidate) || candidate.starts_with(secret))
    });
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_path_dirs_and_never_the_secrets() {
        let path = std::ffi::OsString::from("/usr/local/bin:/opt/node/bin:/home/me/bin:relative");
        let paths = read_paths(
            Some(&path),
            &[Path::new("/etc/pincer/pincer.json5"), Path::new("/home/me")],
        );
        assert!(paths.contains(&PathBuf::from("/usr")));
        assert!(paths.contains(&PathBuf::from("/etc/ssl")));
        assert!(paths.contains(&PathBuf::from("/opt/node")), "{paths:?}");
        assert!(
            !paths.iter().any(|p| p.starts_with("/home/me")),
            "{paths:?}"
        );
        assert!(
            !paths
                .iter()
                .any(|p| p == Path::new("/etc") || p.starts_with("/etc/pincer"))
        );
        assert!(!paths.iter().any(|p| p.is_relative()));
    }
}
