//! The native deployment: `pincer dev` started in the background by `pincer gateway start`, its
//! process id and its log beside the config (`run/pincer.pid`, `run/pincer.log`), so `stop`,
//! `restart` and `logs` find it from any directory.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::sources::shown;
use crate::target::exit;

/// How long `stop` waits for `pincer dev` to stop its processes in order.
const STOP_PATIENCE: Duration = Duration::from_secs(60);

/// The background `pincer dev` of one config.
pub struct Native {
    config: PathBuf,
    run_dir: PathBuf,
}

impl Native {
    /// The native deployment of `config`.
    pub fn new(config: &Path) -> Self {
        let config = std::path::absolute(config).unwrap_or_else(|_| config.to_owned());
        let run_dir = config
            .parent()
            .map_or_else(|| PathBuf::from("run"), |dir| dir.join("run"));
        Self { config, run_dir }
    }

    fn pid_file(&self) -> PathBuf {
        self.run_dir.join("pincer.pid")
    }

    /// The log of the running (or last) `pincer dev`.
    pub fn log_file(&self) -> PathBuf {
        self.run_dir.join("pincer.log")
    }

    /// The process id of the running `pincer dev`, if one runs.
    pub fn running(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(self.pid_file()).ok()?;
        let pid = Pid::from_raw(text.trim().parse().ok()?);
        (alive(pid) && is_pincer_dev(pid)).then_some(pid)
    }

    /// Starts `pincer dev` in its own process group, detached from this terminal, and returns
    /// once it runs (the caller waits for readiness); `Ok(None)` when one already runs.
    pub fn spawn(&self) -> Result<Option<std::process::Child>, String> {
        if let Some(pid) = self.running() {
            eprintln!("pincer: already running (pid {pid})");
            return Ok(None);
        }
        std::fs::create_dir_all(&self.run_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.run_dir.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(|e| format!("cannot open {}: {e}", self.log_file().display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log_file().display()))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find pincer itself: {e}"))?;
        let child = std::os::unix::process::CommandExt::process_group(
            std::process::Command::new(exe)
                .arg("dev")
                .arg("--config")
                .arg(&self.config)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err),
            0,
        )
        .spawn()
        .map_err(|e| format!("cannot start pincer dev: {e}"))?;
        crate::secrets::write_private(&self.pid_file(), &format!("{}\n", child.id()))
            .map_err(|e| format!("cannot write {}: {e}", self.pid_file().display()))?;
        Ok(Some(child))
    }

    /// Stops the running `pincer dev` (SIGTERM: it stops the gateway first and NATS last).
    pub async fn stop(&self) -> ExitCode {
        let Some(pid) = self.running() else {
            println!(
                "not running ({} has no live process)",
                shown(&self.pid_file())
            );
            let _ = std::fs::remove_file(self.pid_file());
            return ExitCode::SUCCESS;
        };
        if let Err(error) = kill(pid, Signal::SIGTERM) {
            eprintln!("pincer: cannot stop pid {pid}: {error}");
            return ExitCode::from(exit::NOPERM);
        }
        let deadline = tokio::time::Instant::now() + STOP_PATIENCE;
        while alive(pid) {
            if tokio::time::Instant::now() > deadline {
                eprintln!("pincer: pid {pid} still runs after {STOP_PATIENCE:?}");
                return ExitCode::from(exit::UNAVAILABLE);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = std::fs::remove_file(self.pid_file());
        println!("stopped (pid {pid})");
        ExitCode::SUCCESS
    }

    /// Prints the last `tail` lines of the log (those naming `service`, when given), then, with
    /// `follow`, what is appended.
    pub async fn logs(&self, service: Option<&str>, follow: bool, tail: usize) -> ExitCode {
        let path = self.log_file();
        let Ok(mut file) = std::fs::File::open(&path) else {
            eprintln!(
                "pincer: no log yet at {} (`pincer gateway start` writes it)",
                shown(&path)
            );
            return ExitCode::from(exit::IO);
        };
        // Every service writes to the one log; its lines name their crate (pincer_gateway::...).
        let needle = service.map(|s| format!("pincer_{}", s.replace('-', "_")));
        let wanted = |line: &str| {
            needle
                .as_deref()
                .is_none_or(|n| line.contains(n) || service.is_some_and(|s| line.contains(s)))
        };
        let mut text = String::new();
        if let Err(error) = file.read_to_string(&mut text) {
            eprintln!("pincer: cannot read {}: {error}", path.display());
            return ExitCode::from(exit::IO);
        }
        let lines: Vec<&str> = text.lines().filter(|l| wanted(l)).collect();
        for line in &lines[lines.len().saturating_sub(tail)..] {
            println!("{line}");
        }
        if !follow {
            return ExitCode::SUCCESS;
        }
        let mut at = file.seek(SeekFrom::End(0)).unwrap_or(0);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            if file.seek(SeekFrom::Start(at)).is_err() {
                continue;
            }
            let mut reader = std::io::BufReader::new(&mut file);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                at += line.len() as u64;
                if wanted(&line) {
                    print!("{line}");
                }
                line.clear();
            }
        }
    }

    /// The last lines of the log, for a start that failed.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Whether `pid` runs `pincer dev` (a recycled process id belongs to someone else).
fn is_pincer_dev(pid: Pid) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.first()
        .is_some_and(|program| program.ends_with(b"pincer"))
        && args.contains(&&b"dev"[..])
}

/// Whether `pid` is a live process (a zombie waiting for its parent counts as gone).
fn alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .is_some_and(|close| !stat[close + 1..].trim_start().starts_with('Z'))
    })
}
