//! Confinement of the children the tool host starts: MCP stdio servers and `exec` programs.
//!
//! A child is never started directly. The tool host starts a helper (its own binary, or
//! `pincer-confine`) with the child's [`Policy`] and command line; the helper, still
//! single-threaded and before running anything else, confines itself and then executes the child
//! in its place, so the child and everything it starts inherit the confinement:
//!
//! 1. it dies with its parent (`PR_SET_PDEATHSIG`), and never starts if the parent is gone;
//! 2. [`limits`]: memory, processes, CPU time, file size and descriptors (rlimits);
//! 3. [`landlock_domain`]: read-only system paths, read-write only what the policy grants, TCP
//!    connections only to the granted ports, no signals to or `/proc` access of processes
//!    outside its own Landlock domain (Landlock, no privileges needed);
//! 4. [`syscall_filter`]: no tracing, namespaces, mounts, keyrings, BPF, io_uring, raw sockets or
//!    leaving its process group, and no IP sockets at all without network (seccomp).
//!
//! The child's environment is exactly what the parent sets (see [`Confiner::command`]); the
//! parent kills the child's whole process group when it is done with it. All of this works as an
//! unprivileged user inside a container with `cap_drop: ALL` and `no-new-privileges`.

pub mod landlock_domain;
pub mod limits;
pub mod policy;
pub mod syscall_filter;
pub mod system;

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

pub use policy::{Limits, Network, Policy};

/// The first argument that turns a binary into the confining helper.
pub const HELPER_ARG: &str = "__pincer_confine";

/// Exit status of a child that could not be confined (nothing was run).
pub const EXIT_NOT_CONFINED: i32 = 125;
/// Exit status of a child whose program could not be executed.
pub const EXIT_NOT_EXECUTED: i32 = 127;

/// Why a child could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// The policy argument is not one.
    #[error("invalid policy: {0}")]
    Policy(String),
    /// The parent died before the child started.
    #[error("the parent process is gone")]
    ParentGone,
    /// An rlimit could not be set.
    #[error("cannot set {resource}: {reason}")]
    Limit {
        /// The resource.
        resource: String,
        /// The kernel's answer.
        reason: String,
    },
    /// Landlock refused or is missing.
    #[error("landlock: {0}")]
    Landlock(String),
    /// The seccomp filter could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(String),
}

/// Confines this process to `policy`: death with the parent, limits, Landlock, seccomp. Call it
/// only in a process that will execute the child next (it cannot be undone).
pub fn confine(policy: &Policy) -> Result<(), ConfineError> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(|errno| {
        ConfineError::Limit {
            resource: "PR_SET_PDEATHSIG".to_owned(),
            reason: errno.desc().to_owned(),
        }
    })?;
    if nix::unistd::getppid().as_raw().unsigned_abs() != policy.parent {
        return Err(ConfineError::ParentGone);
    }
    limits::apply(&policy.limits)?;
    landlock_domain::restrict(policy)?;
    syscall_filter::install(&policy.network)
}

/// When this process was started as the helper (`<binary> __pincer_confine POLICY PROGRAM
/// ARGS...`), confines itself and becomes `PROGRAM`; never returns then. Otherwise returns at
/// once. Call it first thing in `main`, before any thread or runtime exists.
pub fn become_child_if_asked() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(HELPER_ARG)) {
        return;
    }
    std::process::exit(helper(args.collect()));
}

fn helper(args: Vec<OsString>) -> i32 {
    let [policy, program, rest @ ..] = args.as_slice() else {
        eprintln!("pincer-sandbox: usage: {HELPER_ARG} POLICY PROGRAM [ARGS...]");
        return EXIT_NOT_CONFINED;
    };
    let program_name = program.to_string_lossy();
    let policy = match policy
        .to_str()
        .ok_or_else(|| "not UTF-8".to_owned())
        .and_then(|text| Policy::from_arg(text).map_err(|error| error.to_string()))
    {
        Ok(policy) => policy,
        Err(reason) => {
            eprintln!("pincer-sandbox: cannot run `{program_name}`: invalid policy: {reason}");
            return EXIT_NOT_CONFINED;
        }
    };
    if let Err(error) = confine(&policy) {
        eprintln!("pincer-sandbox: `{program_name}` was not started: {error}");
        return EXIT_NOT_CONFINED;
    }
    // Only returns on failure; the environment is the one the parent gave the helper.
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!("pincer-sandbox: cannot run `{program_name}`: {error}");
    EXIT_NOT_EXECUTED
}

/// Starts children through a helper binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confiner {
    helper: PathBuf,
}

impl Confiner {
    /// Children are confined by `helper`, a binary that calls [`become_child_if_asked`] first.
    #[must_use]
    pub fn new(helper: impl Into<PathBuf>) -> Self {
        Self {
            helper: helper.into(),
        }
    }

    /// The helper binary.
    #[must_use]
    pub fn helper(&self) -> &Path {
        &self.helper
    }

    /// A command that runs `program args...` confined to `policy`, with an empty environment
    /// (add the child's own with `env`), in a process group of its own.
    #[must_use]
    pub fn command<I, S>(&self, policy: &Policy, program: &str, args: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = tokio::process::Command::new(&self.helper);
        command
            .arg(HELPER_ARG)
            .arg(policy.to_arg())
            .arg(program)
            .args(args)
            .env_clear()
            .process_group(0);
        command
    }
}
