//! Every file access of the agent's tools, resolved by the kernel beneath the workspace root:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, so a symlink
//! planted by anything (`git clone`, `tar`, an MCP server, the model itself) between a check and
//! the use cannot lead outside, and there is no check-then-use at all. Files are created with
//! `O_EXCL` (a temporary file cannot be a symlink someone placed), and a file with other hard
//! links is refused (one of its names may be outside).
//!
//! Paths are relative to the root; [`crate::confine`] has already refused absolute paths and `..`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Why an access beneath the root failed.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// The path leads out of the workspace (through a symlink).
    #[error("leads outside the workspace through a symlink")]
    Escapes,
    /// A regular file with more than one name.
    #[error("has other hard links; files that may also live outside the workspace are not opened")]
    HardLinked,
    /// The operating system said no.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<Errno> for BeneathError {
    fn from(errno: Errno) -> Self {
        match errno {
            // openat2 says EXDEV for a resolution that would leave the root, ELOOP for a magic
            // link or a symlink loop.
            Errno::EXDEV | Errno::ELOOP => Self::Escapes,
            other => Self::Io(std::io::Error::from(other)),
        }
    }
}

fn resolve() -> ResolveFlag {
    ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

/// `relative` as a path openat2 takes: `.` for the root itself.
fn relative_path(relative: &Path) -> PathBuf {
    let cleaned: PathBuf = relative
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

fn open_root(root: &Path) -> Result<OwnedFd, BeneathError> {
    Ok(nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_at(
    dir: impl AsFd,
    relative: &Path,
    flags: OFlag,
    mode: Mode,
) -> Result<OwnedFd, BeneathError> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(resolve());
    Ok(nix::fcntl::openat2(dir, &relative_path(relative), how)?)
}

/// Opens `relative` under `root` for reading; refuses directories only if `file_only`.
pub fn open_read(root: &Path, relative: &Path) -> Result<File, BeneathError> {
    let root = open_root(root)?;
    let file = File::from(open_at(&root, relative, OFlag::O_RDONLY, Mode::empty())?);
    let metadata = file.metadata()?;
    if metadata.is_file() && metadata.nlink() > 1 {
        return Err(BeneathError::HardLinked);
    }
    Ok(file)
}

/// The entries of the directory `relative`: names, and whether each is a directory or a symlink.
pub fn list(root: &Path, relative: &Path) -> Result<Vec<(String, EntryKind)>, BeneathError> {
    let root = open_root(root)?;
    let dir = open_at(
        &root,
        relative,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    let mut listing = nix::dir::Dir::from_fd(dir)?;
    let mut entries = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            Some(nix::dir::Type::Directory) => EntryKind::Dir,
            Some(nix::dir::Type::Symlink) => EntryKind::Symlink,
            Some(_) => EntryKind::File,
            None => EntryKind::File,
        };
        entries.push((String::from_utf8_lossy(name).into_owned(), kind));
    }
    Ok(entries)
}

/// What a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else.
    File,
}

/// Opens (creating every missing level) the directory `relative` beneath `root`.
fn create_dirs(root: &OwnedFd, relative: &Path) -> Result<OwnedFd, BeneathError> {
    let mut built = PathBuf::new();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            continue;
        };
        let parent = open_at(
            root,
            &built,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )?;
        match nix::sys::stat::mkdirat(&parent, part, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(errno.into()),
        }
        built.push(part);
    }
    open_at(
        root,
        &built,
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
}

/// Opens the directory `relative` beneath `root` (`O_PATH`), creating every missing level.
pub fn create_dir_all(root: &Path, relative: &Path) -> Result<OwnedFd, BeneathError> {
    create_dirs(&open_root(root)?, relative)
}

/// Removes the file `name` from the directory `dir` (from [`create_dir_all`]); a missing file is
/// not an error.
pub fn remove_file_at(dir: &OwnedFd, name: &str) -> Result<(), BeneathError> {
    match nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

/// Replaces (or creates) the file `relative` beneath `root` with `bytes`, atomically: a fresh
/// temporary file (`O_EXCL`, never a planted symlink) in the same directory, then a rename. A
/// symlink at the target is replaced, not followed.
pub fn write_atomically(root: &Path, relative: &Path, bytes: &[u8]) -> Result<(), BeneathError> {
    let root_fd = open_root(root)?;
    let name = relative
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let parent = create_dirs(&root_fd, relative.parent().unwrap_or(Path::new("")))?;
    let temp = temp_name(name);
    let file = open_at(
        &parent,
        Path::new(&temp),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
        Mode::from_bits_truncate(0o644),
    )?;
    let mut file = File::from(file);
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    let renamed = written.map_err(BeneathError::from).and_then(|()| {
        nix::fcntl::renameat(&parent, temp.as_os_str(), &parent, name).map_err(BeneathError::from)
    });
    if renamed.is_err() {
        let _ = nix::unistd::unlinkat(
            &parent,
            temp.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }
    renamed
}

/// Appends `bytes` to the file `relative` beneath `root`, creating it (and its directories).
pub fn append(root: &Path, relative: &Path, bytes: &[u8]) -> Result<(), BeneathError> {
    let root_fd = open_root(root)?;
    let parent = create_dirs(&root_fd, relative.parent().unwrap_or(Path::new("")))?;
    let name = relative
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let file = open_at(
        &parent,
        Path::new(name),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND,
        Mode::from_bits_truncate(0o644),
    )?;
    let mut file = File::from(file);
    let metadata = file.metadata()?;
    if metadata.nlink() > 1 {
        return Err(BeneathError::HardLinked);
    }
    file.write_all(bytes)?;
    Ok(())
}

/// A name for a temporary file beside `name` that nothing else uses.
fn temp_name(name: &OsStr) -> std::ffi::OsString {
    let mut random = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .unwrap_or_default();
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut temp = std::ffi::OsString::from(".");
    temp.push(OsStr::from_bytes(&name.as_bytes()[..name.len().min(64)]));
    temp.push(format!(".pincer-tmp-{suffix}"));
    temp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_hard_links_and_planted_temp_files_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("ws");
        std::fs::create_dir_all(&root).expect("ws");
        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, "SECRET").expect("secret");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("link");
        std::os::unix::fs::symlink(dir.path(), root.join("up")).expect("dir link");
        assert!(matches!(
            open_read(&root, Path::new("link")),
            Err(BeneathError::Escapes)
        ));
        assert!(matches!(
            open_read(&root, Path::new("up/secret.txt")),
            Err(BeneathError::Escapes)
        ));
        assert!(matches!(
            write_atomically(&root, Path::new("up/planted.txt"), b"x"),
            Err(BeneathError::Escapes)
        ));
        assert!(!dir.path().join("planted.txt").exists());
        // Writing over an escaping symlink replaces the link, never the file it points at.
        write_atomically(&root, Path::new("link"), b"mine").expect("replaces the link");
        assert_eq!(std::fs::read_to_string(&outside).expect("read"), "SECRET");
        assert_eq!(
            std::fs::read_to_string(root.join("link")).expect("read"),
            "mine"
        );
        // A hard link to a file outside is not read.
        std::fs::hard_link(&outside, root.join("hard")).expect("hard link");
        assert!(matches!(
            open_read(&root, Path::new("hard")),
            Err(BeneathError::HardLinked)
        ));
        assert!(matches!(
            append(&root, Path::new("hard"), b"x"),
            Err(BeneathError::HardLinked)
        ));
        // Inside links and nested creation work.
        std::fs::write(root.join("real.md"), "ok").expect("real");
        std::os::unix::fs::symlink("real.md", root.join("alias.md")).expect("inner link");
        assert!(open_read(&root, Path::new("alias.md")).is_ok());
        write_atomically(&root, Path::new("a/b/c.txt"), b"deep").expect("nested");
        append(&root, Path::new("memory/day.md"), b"one\n").expect("append");
        let names: Vec<String> = list(&root, Path::new(""))
            .expect("list")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"a".to_owned()) && names.contains(&"memory".to_owned()));
        assert!(!names.iter().any(|n| n.contains("pincer-tmp")), "{names:?}");
        // Directories are created beneath the root only, and files removed from them.
        assert!(matches!(
            create_dir_all(&root, Path::new("up/made")),
            Err(BeneathError::Escapes)
        ));
        assert!(!dir.path().join("made").exists());
        let state = create_dir_all(&root, Path::new(".state/deep")).expect("created");
        std::fs::write(root.join(".state/deep/f"), "x").expect("file");
        remove_file_at(&state, "f").expect("removed");
        remove_file_at(&state, "f").expect("already gone is fine");
        assert!(!root.join(".state/deep/f").exists());
    }
}
