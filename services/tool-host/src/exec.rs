//! `exec`: runs one allow-listed program in the agent's workspace, without a shell, confined
//! ([`crate::confinement`]). Arguments are passed as they are (no globbing, no `$VAR`, no pipes);
//! the run is bounded in time, memory, processes and the output handed back, and nothing it
//! started outlives it: its whole process group is killed when it ends, times out, or the call
//! is abandoned.
//!
//! The allowlist says which program the model may start; the confinement says what that program,
//! and anything it runs in turn (`git` aliases and hooks, `find -exec`), can reach.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt as _;

use crate::confinement::{Confinement, ExecSettings};
use crate::definition::Definition;
use crate::error::{ToolError, args};

/// Shell operators the model may expect to work; refused with a clear message instead of being
/// passed as literal arguments.
const SHELL_OPERATORS: &[&str] = &["|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecArgs {
    /// Program name, or a whole command line split on whitespace (quotes group words).
    command: String,
    #[serde(default)]
    args: Vec<String>,
}

/// The `exec` tool.
#[derive(Clone, Debug)]
pub struct Exec {
    allowlist: Vec<String>,
    timeout: Duration,
    max_output_chars: usize,
    settings: ExecSettings,
    confinement: Confinement,
}

impl Exec {
    /// From `tools.exec`; `None` when exec is off.
    #[must_use]
    pub fn new(config: &crate::Config, confinement: Confinement) -> Option<Self> {
        let exec = &config.tools.exec;
        match exec.mode {
            pincer_config::ExecMode::Deny => None,
            pincer_config::ExecMode::Allowlist => Some(Self {
                allowlist: exec.allowlist.clone(),
                timeout: Duration::from_secs(exec.timeout_seconds.max(1)),
                max_output_chars: exec.max_output_chars.max(256),
                settings: ExecSettings::from_config(exec, &config.agents),
                confinement,
            }),
        }
    }

    /// What the model is offered.
    #[must_use]
    pub fn definition(&self) -> Definition {
        Definition::new(
            "exec",
            &format!(
                "Run one program (no shell) in the workspace. Allowed: {}.",
                self.allowlist.join(", ")
            ),
            json!({"type":"object","properties":{"command":{"type":"string"},"args":{"type":"array","items":{"type":"string"}}},"required":["command"]}),
        )
    }

    /// Runs the command described by `arguments` in `workspace`.
    pub async fn run(&self, workspace: &Path, arguments: &str) -> Result<String, ToolError> {
        let ExecArgs {
            command,
            args: extra,
        } = args(arguments)?;
        let mut words = split_words(&command)?;
        words.extend(extra);
        let Some(program) = words.first().cloned() else {
            return Err(ToolError::Invalid("command is empty".into()));
        };
        if let Some(op) = words.iter().find(|w| SHELL_OPERATORS.contains(&w.as_str())) {
            return Err(ToolError::Invalid(format!(
                "`{op}` is a shell operator; exec runs one program without a shell (no pipes, redirections or chains)"
            )));
        }
        if !self.allowlist.iter().any(|allowed| allowed == &program) {
            return Err(ToolError::Denied(format!(
                "`{program}` is not in tools.exec.allowlist (allowed: {})",
                if self.allowlist.is_empty() {
                    "none".to_owned()
                } else {
                    self.allowlist.join(", ")
                }
            )));
        }
        let run = self
            .confinement
            .state()
            .run()
            .map_err(|error| ToolError::Invalid(format!("cannot prepare the run: {error}")))?;
        let mut child = self
            .confinement
            .exec_command(&self.settings, workspace, &run, &program, &words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| ToolError::Invalid(format!("cannot start `{program}`: {error}")))?;
        // Whatever happens next (an answer, a timeout, the call abandoned), the group dies.
        let group = child.id().map(ProcessGroup);
        // Read both pipes while waiting, bounded, so a chatty program can neither block on a full
        // pipe nor fill our memory. When the program exits, what it left running in the
        // background is killed, which also closes the pipes it held.
        let byte_cap = self.max_output_chars.saturating_mul(4).saturating_add(4);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let reading = async { tokio::join!(bounded(stdout, byte_cap), bounded(stderr, byte_cap)) };
        let waiting = async {
            let status = child.wait().await;
            if let Some(group) = &group {
                group.kill();
            }
            status
        };
        let collect = async { tokio::join!(reading, waiting) };
        let Ok(((out, err), status)) = tokio::time::timeout(self.timeout, collect).await else {
            return Err(ToolError::Invalid(format!(
                "`{program}` did not finish within {}s and was killed",
                self.timeout.as_secs()
            )));
        };
        let status =
            status.map_err(|error| ToolError::Invalid(format!("`{program}` failed: {error}")))?;
        let (out, out_cut) = out;
        let (err, err_cut) = err;
        match status.code() {
            Some(pincer_sandbox::EXIT_NOT_CONFINED) if err.starts_with(b"pincer-sandbox:") => {
                return Err(ToolError::Invalid(
                    String::from_utf8_lossy(&err).trim().to_owned(),
                ));
            }
            Some(pincer_sandbox::EXIT_NOT_EXECUTED) if err.starts_with(b"pincer-sandbox:") => {
                return Err(ToolError::Invalid(format!(
                    "`{program}` is allowed but cannot be run in the tool host: {}",
                    String::from_utf8_lossy(&err).trim()
                )));
            }
            _ => {}
        }
        let mut text = format!("exit code: {}\n", describe(status));
        if !out.is_empty() {
            text.push_str("stdout:\n");
            text.push_str(&String::from_utf8_lossy(&out));
        }
        if !err.is_empty() {
            text.push_str("\nstderr:\n");
            text.push_str(&String::from_utf8_lossy(&err));
        }
        let chars = text.chars().count();
        if chars > self.max_output_chars || out_cut || err_cut {
            let kept: String = text.chars().take(self.max_output_chars).collect();
            return Ok(format!(
                "{kept}\n[... output truncated at {} characters]",
                self.max_output_chars
            ));
        }
        Ok(text)
    }
}

/// The exit code, or the signal and what it usually means here.
fn describe(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return code.to_string();
    }
    match status.signal() {
        Some(signal) if signal == nix::sys::signal::Signal::SIGXCPU as i32 => {
            "killed: CPU time limit".to_owned()
        }
        Some(signal) if signal == nix::sys::signal::Signal::SIGXFSZ as i32 => {
            "killed: file size limit".to_owned()
        }
        Some(signal) => format!("killed by signal {signal}"),
        None => "killed".to_owned(),
    }
}

/// Kills a run's whole process group when dropped: the program and everything it started (a
/// background process, a fork bomb) stop with the call. The confinement keeps them from leaving
/// the group.
struct ProcessGroup(u32);

impl ProcessGroup {
    fn kill(&self) {
        if let Ok(pid) = i32::try_from(self.0) {
            // ESRCH (all gone already) is the usual answer.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads up to `cap` bytes and drains (discards) the rest; returns whether it cut.
async fn bounded<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut cut = false;
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    (kept, cut)
}

/// Splits a command line on whitespace; single or double quotes group words. Nothing is expanded.
fn split_words(line: &str) -> Result<Vec<String>, ToolError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ToolError::Invalid("unbalanced quote in command".into()));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_whitespace_with_quotes_and_no_expansion() {
        assert_eq!(
            split_words(r#"echo "a b" 'c d' $HOME *"#).expect("split"),
            ["echo", "a b", "c d", "$HOME", "*"]
        );
        assert!(split_words("echo 'open").is_err());
    }
}
