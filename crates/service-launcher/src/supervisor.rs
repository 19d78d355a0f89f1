//! The supervisor's side: starting the launcher, asking it for services, and waiting for them.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use crate::{LAUNCHER_NAME, Reply, Request};

/// How long the launcher may take to answer a request or to exit: it forks twice.
const PATIENCE: Duration = Duration::from_secs(10);

/// Why a service could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This process could not become a child subreaper.
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(Errno),
    /// The launcher could not be started.
    #[error("cannot start {program} as {LAUNCHER_NAME}: {source}")]
    Start {
        /// The executable.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The socket to the launcher failed, or it did not answer in time.
    #[error("the launcher did not answer: {0}")]
    Talk(std::io::Error),
    /// The launcher answered something that is no reply.
    #[error("the launcher answered {answer:?}: {reason}")]
    Answer {
        /// What it wrote.
        answer: String,
        /// Why it is not a reply.
        reason: String,
    },
    /// The launcher refused the service.
    #[error("the launcher did not start {service}: {reason}")]
    Refused {
        /// The service.
        service: String,
        /// What the launcher said.
        reason: String,
    },
}

/// A running launcher: `pincer-services` started as [`LAUNCHER_NAME`], a child of this process, which is a child
/// subreaper until [`Launcher::finish`] (or drop).
pub struct Launcher {
    process: tokio::process::Child,
    socket: BufReader<UnixStream>,
}

impl Launcher {
    /// Starts `program` (the `pincer-services` executable) as the launcher, and makes this process
    /// the parent of what it launches.
    pub fn start(program: &Path) -> Result<Self, Error> {
        let start_error = |source| Error::Start {
            program: program.display().to_string(),
            source,
        };
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(start_error)?;
        ours.set_nonblocking(true).map_err(start_error)?;
        let socket = UnixStream::from_std(ours).map_err(start_error)?;
        nix::sys::prctl::set_child_subreaper(true).map_err(Error::Subreaper)?;
        let process = tokio::process::Command::new(program)
            .arg0(LAUNCHER_NAME)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| {
                let _ = nix::sys::prctl::set_child_subreaper(false);
                start_error(source)
            })?;
        Ok(Self {
            process,
            socket: BufReader::new(socket),
        })
    }

    /// Starts `service` with `env` added to the environment; it runs as a child of this process.
    pub async fn launch(
        &mut self,
        service: &str,
        env: Vec<(String, String)>,
    ) -> Result<LaunchedChild, Error> {
        let request = Request {
            service: service.to_owned(),
            env,
        };
        let mut line = serde_json::to_string(&request)
            .map_err(|error| Error::Talk(std::io::Error::other(error)))?;
        line.push('\n');
        let mut answer = String::new();
        let exchange = async {
            self.socket.get_mut().write_all(line.as_bytes()).await?;
            self.socket.read_line(&mut answer).await
        };
        match tokio::time::timeout(PATIENCE, exchange).await {
            Ok(Ok(0)) => {
                return Err(Error::Talk(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "it exited",
                )));
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(Error::Talk(error)),
            Err(_) => {
                return Err(Error::Talk(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {PATIENCE:?}"),
                )));
            }
        }
        match serde_json::from_str::<Reply>(&answer) {
            Ok(Reply::Started { pid }) if pid > 0 => Ok(LaunchedChild::new(Pid::from_raw(pid))),
            Ok(Reply::Started { pid }) => Err(Error::Answer {
                answer,
                reason: format!("{pid} is no process ID"),
            }),
            Ok(Reply::Refused { reason }) => Err(Error::Refused {
                service: service.to_owned(),
                reason,
            }),
            Err(error) => Err(Error::Answer {
                answer,
                reason: error.to_string(),
            }),
        }
    }

    /// Hangs up: the launcher exits (the services run on), and this process stops being a
    /// subreaper, so orphans of the services go to init as before.
    pub async fn finish(mut self) -> Result<(), Error> {
        // End of file for the launcher.
        let _ = self.socket.get_mut().shutdown().await;
        let exited = tokio::time::timeout(PATIENCE, self.process.wait()).await;
        let _ = nix::sys::prctl::set_child_subreaper(false);
        match exited {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(Error::Talk(std::io::Error::other(format!(
                "it exited with {status}"
            )))),
            Ok(Err(error)) => Err(Error::Talk(error)),
            Err(_) => Err(Error::Talk(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("it did not exit within {PATIENCE:?}"),
            ))),
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Unless `finish` ran: the process is killed on drop (`kill_on_drop`).
        let _ = nix::sys::prctl::set_child_subreaper(false);
    }
}

/// Makes the program `command` starts get SIGTERM when this process exits, as launched services
/// do ([`crate::serve`]): a supervisor killed outright (SIGKILL) leaves nothing running behind it
/// (`pincer dev`'s nats-server kept its port and its store).
#[allow(unsafe_code)]
pub fn stop_with_this_process(command: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before `exec`; `prctl` and `getppid` are
    // async-signal-safe and touch nothing but the child's own attributes.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            // This process exited before the signal was asked for: nobody will send it.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the supervisor has exited"));
            }
            Ok(())
        });
    }
}

/// A service the launcher started: a child of this process that no `Child` handle owns. Killed
/// (SIGKILL) when dropped before it exited, as `kill_on_drop` does.
#[derive(Debug)]
pub struct LaunchedChild {
    pid: Pid,
    status: Option<ExitStatus>,
}

impl LaunchedChild {
    fn new(pid: Pid) -> Self {
        Self { pid, status: None }
    }

    /// Its process ID, unless it has been reaped (the number may then be another process's).
    pub fn id(&self) -> Option<u32> {
        match self.status {
            None => Some(self.pid.as_raw().unsigned_abs()),
            Some(_) => None,
        }
    }

    /// Its exit status if it has exited (reaping it), `None` while it runs.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        let raw = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => (code & 0xff) << 8,
            Ok(WaitStatus::Signaled(_, signal, core_dumped)) => {
                signal as i32 | if core_dumped { 0x80 } else { 0 }
            }
            // Running, stopped or continued.
            Ok(_) => return Ok(None),
            Err(errno) => return Err(std::io::Error::from(errno)),
        };
        self.status = Some(ExitStatus::from_raw(raw));
        Ok(self.status)
    }

    /// Sends `signal` unless it has been reaped.
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        kill(self.pid, signal)
    }

    /// Waits until it exits.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        // A pidfd reads as ready once the process has exited; no `Child` owns this one for tokio
        // to wait on.
        let exited = register(pidfd_open(self.pid)?)?;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            exited.readable().await?.clear_ready();
        }
    }
}

/// Registers `fd` with tokio's reactor.
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` stays open, and is the same descriptor, until the `AsyncFd` holding it
    // is dropped.
    Ok(unsafe { tokio::io::unix::AsyncFd::register(fd) }?)
}

/// `pidfd_open(2)` (Linux 5.3): a descriptor that becomes readable when `pid` exits.
#[allow(unsafe_code)]
fn pidfd_open(pid: Pid) -> std::io::Result<OwnedFd> {
    // SAFETY: the syscall takes a PID and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(std::io::Error::other)?;
    // SAFETY: the kernel just returned this descriptor, owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

impl Drop for LaunchedChild {
    fn drop(&mut self) {
        if self.status.is_none() && self.signal(Signal::SIGKILL).is_ok() {
            let _ = waitpid(self.pid, Some(WaitPidFlag::WNOHANG));
        }
    }
}
