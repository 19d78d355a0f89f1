//! Starts the services of `pincer dev` by forking them from one process of `pincer-services`
//! instead of executing the file once per service.
//!
//! Why: the executable is position-independent, so before `main` the dynamic loader writes the
//! address of every vtable, string and function that static data points to (RELRO: 0.9 MiB in
//! `pincer-services`). Those pages are the process's own: five services started from the file paid
//! for five copies, 4.7 MiB of the stack's idle memory. Forked from one process that has been
//! loaded, they share that process's copy; it is read-only after loading, so it stays shared.
//!
//! The price: the services share one address layout (where the executable, its libraries and the
//! first heap are), as every process forked from one parent does. A leaked address from one
//! service tells where the same code is in the others. They are still separate processes, each
//! with its own bus identity and confinement.
//!
//! How:
//! - `pincer dev` (the supervisor) starts [`Launcher::start`]: `pincer-services` started as
//!   [`LAUNCHER_NAME`], whose
//!   standard input is one end of a Unix socket, and makes itself a child subreaper.
//! - For each service it sends a [`Request`] (one JSON line: the service and the variables to add
//!   to the environment) and reads back a [`Reply`] (the service's PID).
//! - The launcher ([`serve`]) forks a child that forks the service and exits. The service is
//!   orphaned, and the kernel gives an orphan to its nearest subreaper ancestor: the supervisor,
//!   which then waits for it as for any child ([`LaunchedChild`]).
//! - When every service runs, the supervisor hangs up ([`Launcher::finish`]); the launcher exits,
//!   and the supervisor stops being a subreaper (orphans of the services go to init again).

mod launch;
mod supervisor;

pub use launch::{Launched, ServeError, serve};
pub use supervisor::{Error, LaunchedChild, Launcher, stop_with_this_process};

/// The name (`argv[0]`, and nothing else on the command line) `pincer-services` is started under
/// to be the launcher. Longer than any service's name: a service writes its own over it
/// (`/proc/<pid>/cmdline`, what `ps` and `pgrep -f` read), as if it had been started under it.
pub const LAUNCHER_NAME: &str = "pincer-services-launcher";

/// One service to start: a JSON line from the supervisor.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The name the service's binary has (`pincer-gateway`, ...).
    pub service: String,
    /// Variables added to the launcher's environment (which is the supervisor's), as
    /// `Command::envs` adds them.
    pub env: Vec<(String, String)>,
}

/// The launcher's answer to a [`Request`]: a JSON line.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// The service runs as this process, a child of the supervisor.
    Started {
        /// Its process ID.
        pid: i32,
    },
    /// The service was not started.
    Refused {
        /// Why.
        reason: String,
    },
}
