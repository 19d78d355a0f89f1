//! The launcher: `pincer-services` started as `pincer-services-launcher`, one process that forks
//! every service.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, getppid, pipe, setpgid};

use crate::{Reply, Request};

/// What [`serve`] returned to, in the process it returned in.
#[derive(Debug)]
pub enum Launched {
    /// This process is now the named service, with its environment set: run it.
    Service(String),
    /// The supervisor hung up: every service runs, and the launcher is done.
    Done,
}

/// Why the launcher, or a service it forked, could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Standard input is not a socket this process can read and write.
    #[error("standard input is not the supervisor's socket: {0}")]
    Socket(io::Error),
    /// The socket failed.
    #[error("talking to the supervisor: {0}")]
    Talk(io::Error),
    /// A forked service could not take its place under the supervisor.
    #[error("the forked service cannot start: {0}")]
    Service(String),
}

/// Serves the requests of the supervisor on standard input (one end of a Unix socket) until it
/// hangs up. Returns in the launcher ([`Launched::Done`]) and in every service it forked
/// ([`Launched::Service`]). `services` are the names a request may ask for.
///
/// Call it while this process has one thread: it forks.
pub fn serve(services: &[&str]) -> Result<Launched, ServeError> {
    let socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(ServeError::Socket)?;
    let socket = UnixStream::from(socket);
    let mut replies = socket.try_clone().map_err(ServeError::Socket)?;
    let mut requests = BufReader::new(socket);
    let supervisor = getppid();
    let mut line = String::new();
    loop {
        line.clear();
        if requests.read_line(&mut line).map_err(ServeError::Talk)? == 0 {
            return Ok(Launched::Done);
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Err(error) => Reply::Refused {
                reason: format!("not a request: {error}"),
            },
            Ok(request) if !services.contains(&request.service.as_str()) => Reply::Refused {
                reason: format!(
                    "no service is named {:?} (known: {})",
                    request.service,
                    services.join(", ")
                ),
            },
            Ok(request) if let Err(reason) = settable(&request.env) => Reply::Refused { reason },
            Ok(request) => match fork_service(&request.service) {
                Ok(Forked::Service { go, titled }) => {
                    // The supervisor's socket is the launcher's, not the service's.
                    drop(requests);
                    drop(replies);
                    titled.map_err(ServeError::Service)?;
                    become_service(go, supervisor, &request.env)?;
                    return Ok(Launched::Service(request.service));
                }
                Ok(Forked::Started(pid)) => Reply::Started { pid: pid.as_raw() },
                Err(error) => Reply::Refused {
                    reason: format!("fork failed: {error}"),
                },
            },
        };
        let mut answer = serde_json::to_string(&reply)
            .map_err(|error| ServeError::Talk(io::Error::other(error)))?;
        answer.push('\n');
        replies
            .write_all(answer.as_bytes())
            .map_err(ServeError::Talk)?;
    }
}

/// Where [`fork_service`] returned.
enum Forked {
    /// In the service, named already (or why it could not be). Its end of the pipe, `go`, reads
    /// end-of-file once the service's first parent has been reaped, so that its parent is the
    /// supervisor.
    Service {
        go: OwnedFd,
        titled: Result<(), String>,
    },
    /// In the launcher: the service runs as this process.
    Started(Pid),
}

/// Forks a child that forks the service and exits: the service, orphaned, goes to the nearest
/// subreaper, the supervisor. The service names itself `service` before it hands its PID to the
/// launcher: whoever is told it started (`ps`, `pgrep -f`, the benchmarks' process table) finds it
/// under its name, never under the launcher's.
#[allow(unsafe_code)]
fn fork_service(service: &str) -> io::Result<Forked> {
    let (pid_read, pid_write) = pipe()?;
    let (go_read, go_write) = pipe()?;
    // SAFETY: the launcher has one thread (the supervisor starts it to do nothing but this), so
    // the child can run anything, not only async-signal-safe functions.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(pid_read);
            drop(go_write);
            // SAFETY: this child has one thread, as its parent had.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let titled = retitle(service);
                    let pid = nix::unistd::getpid().as_raw();
                    let _ = File::from(pid_write).write_all(&pid.to_le_bytes());
                    return Ok(Forked::Service {
                        go: go_read,
                        titled,
                    });
                }
                // The service writes its PID itself, once named.
                Ok(ForkResult::Parent { .. }) => drop(pid_write),
                Err(errno) => {
                    let _ = File::from(pid_write).write_all(&(-(errno as i32)).to_le_bytes());
                }
            }
            // Not `exit`: the launcher's exit handlers and buffers are the launcher's.
            // SAFETY: ends this process at once; nothing of it is shared with another.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(pid_write);
            drop(go_read);
            // The service's PID, or the errno of the fork that failed to make it (end-of-file: the
            // service died before it wrote).
            let mut outcome = [0u8; 4];
            let read = File::from(pid_read).read_exact(&mut outcome);
            // Reaped, the child has handed the service to the supervisor; only then may the
            // service look at whose child it is.
            let _ = waitpid(child, None);
            drop(go_write);
            read?;
            match i32::from_le_bytes(outcome) {
                pid if pid > 0 => Ok(Forked::Started(Pid::from_raw(pid))),
                errno => Err(io::Error::from_raw_os_error(-errno)),
            }
        }
    }
}

/// Makes the forked process the service: a child of `supervisor`, stopped with it, in its own
/// process group (as the supervisor starts every child: a terminal's Ctrl-C reaches only the
/// supervisor, which stops the stack in order), reading nothing, with `env` set.
///
/// Setting the environment is what executing a service with it would have done: the service
/// reads its configuration from there, as it does when started on its own.
#[allow(unsafe_code, clippy::disallowed_methods)]
fn become_service(
    go: OwnedFd,
    supervisor: Pid,
    env: &[(String, String)],
) -> Result<(), ServeError> {
    // End of file: the launcher has reaped the service's first parent.
    let mut byte = [0u8; 1];
    let _ = File::from(go).read(&mut byte);
    if getppid() != supervisor {
        return Err(ServeError::Service(format!(
            "its parent is {}, not the supervisor {supervisor} (the supervisor must be a child \
             subreaper while it launches)",
            getppid()
        )));
    }
    // A supervisor killed outright (SIGKILL) cannot stop its children; the kernel then does.
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)
        .map_err(|errno| ServeError::Service(format!("PR_SET_PDEATHSIG: {errno}")))?;
    if getppid() != supervisor {
        return Err(ServeError::Service(
            "the supervisor exited while it started".to_owned(),
        ));
    }
    setpgid(Pid::from_raw(0), Pid::from_raw(0))
        .map_err(|errno| ServeError::Service(format!("setpgid: {errno}")))?;
    let null = File::open("/dev/null")
        .map_err(|error| ServeError::Service(format!("/dev/null: {error}")))?;
    nix::unistd::dup2_stdin(null)
        .map_err(|errno| ServeError::Service(format!("standard input: {errno}")))?;
    for (name, value) in env {
        // SAFETY: this process has one thread (forked from the single-threaded launcher), so no
        // other thread reads the environment while it changes. `serve` checked that each variable
        // can be set (`set_var` panics on the others).
        unsafe {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// Whether every variable of `env` can be set: checked before forking, so that a request with one
/// that cannot is refused with its name instead of a forked service failing.
fn settable(env: &[(String, String)]) -> Result<(), String> {
    match env
        .iter()
        .find(|(name, value)| name.is_empty() || name.contains(['=', '\0']) || value.contains('\0'))
    {
        Some((name, _)) => Err(format!("environment variable {name:?} cannot be set")),
        None => Ok(()),
    }
}

/// Names this process `name`, as if it had been started under it: its command name (`comm`, what
/// `top` shows; the kernel keeps 15 bytes, best effort), and its command line written over, as
/// `setproctitle` does: `/proc/<pid>/cmdline` (`ps`, `pgrep -f`) and `std::env::args` then read
/// `name`. The launcher was started with its name alone, longer than any service's.
#[allow(unsafe_code)]
fn retitle(name: &str) -> Result<(), String> {
    let _ = std::fs::write("/proc/self/comm", name);
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|error| format!("/proc/self/stat: {error}"))?;
    // Fields after the command name, which may hold spaces: the 3rd field onwards. `arg_start` and
    // `arg_end` are the 48th and 49th (proc(5)).
    let fields: Vec<&str> = stat
        .rfind(')')
        .map(|close| stat[close + 1..].split_whitespace().collect())
        .unwrap_or_default();
    let field = |number: usize| {
        fields
            .get(number - 3)
            .and_then(|value| value.parse::<usize>().ok())
            .ok_or_else(|| format!("/proc/self/stat has no field {number}"))
    };
    let (start, end) = (field(48)?, field(49)?);
    let room = end.saturating_sub(start);
    if name.contains('\0') || name.len() >= room {
        return Err(format!(
            "{name:?} does not fit the {room} bytes of the command line"
        ));
    }
    // SAFETY: [start, end) holds this process's argument strings, on its own stack, writable and
    // alive for as long as the process. The only pointer into it that is kept (std's argv[0], the
    // launcher's name alone) still points at a NUL-terminated string afterwards: `name`. The bytes
    // after its NUL are not NUL, so that the kernel reads the command line up to that first NUL
    // (the rule for a command line a process rewrote) instead of the whole area.
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, room);
        area.fill(b' ');
        area[..name.len()].copy_from_slice(name.as_bytes());
        area[name.len()] = 0;
    }
    Ok(())
}
