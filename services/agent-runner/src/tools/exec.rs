//! `exec`: runs one allow-listed program in the workspace, without a shell. Arguments are passed
//! as they are (no globbing, no `$VAR`, no pipes), the environment is reduced to a few variables,
//! and the run is bounded in time and in the output handed back.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncReadExt as _;

use super::{ToolError, args};
use crate::workspace::Workspace;

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

/// What the `exec` tool may do.
#[derive(Clone, Debug)]
pub struct ExecPolicy {
    /// Allowed program names or absolute paths.
    pub allowlist: Vec<String>,
    /// Kill after this long.
    pub timeout: Duration,
    /// Characters of output returned.
    pub max_output_chars: usize,
}

impl ExecPolicy {
    /// From `tools.exec`; `None` when exec is off.
    pub fn from_config(exec: &pincer_config::Exec) -> Option<Self> {
        match exec.mode {
            pincer_config::ExecMode::Deny => None,
            pincer_config::ExecMode::Allowlist => Some(Self {
                allowlist: exec.allowlist.clone(),
                timeout: Duration::from_secs(exec.timeout_seconds.max(1)),
                max_output_chars: exec.max_output_chars.max(256),
            }),
        }
    }
}

/// Runs the command described by `arguments`.
pub async fn run(
    ws: &Workspace,
    policy: &ExecPolicy,
    arguments: &str,
) -> Result<String, ToolError> {
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
    if !policy.allowlist.iter().any(|allowed| allowed == &program) {
        return Err(ToolError::Denied(format!(
            "`{program}` is not in tools.exec.allowlist (allowed: {})",
            if policy.allowlist.is_empty() {
                "none".to_owned()
            } else {
                policy.allowlist.join(", ")
            }
        )));
    }
    let mut child = tokio::process::Command::new(&program)
        .args(&words[1..])
        .current_dir(ws.root())
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", ws.root())
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| ToolError::Invalid(format!("cannot start `{program}`: {error}")))?;
    // Read both pipes while waiting, bounded, so a chatty program can neither block on a full
    // pipe nor fill our memory.
    let byte_cap = policy.max_output_chars.saturating_mul(4).saturating_add(4);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let collect = async {
        let (out, err, status) = tokio::join!(
            bounded(stdout, byte_cap),
            bounded(stderr, byte_cap),
            child.wait()
        );
        (out, err, status)
    };
    let Ok((out, err, status)) = tokio::time::timeout(policy.timeout, collect).await else {
        return Err(ToolError::Invalid(format!(
            "`{program}` did not finish within {}s and was killed",
            policy.timeout.as_secs()
        )));
    };
    let status =
        status.map_err(|error| ToolError::Invalid(format!("`{program}` failed: {error}")))?;
    let mut text = format!(
        "exit code: {}\n",
        status
            .code()
            .map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string())
    );
    let (out, out_cut) = out;
    let (err, err_cut) = err;
    if !out.is_empty() {
        text.push_str("stdout:\n");
        text.push_str(&String::from_utf8_lossy(&out));
    }
    if !err.is_empty() {
        text.push_str("\nstderr:\n");
        text.push_str(&String::from_utf8_lossy(&err));
    }
    let chars = text.chars().count();
    if chars > policy.max_output_chars || out_cut || err_cut {
        let kept: String = text.chars().take(policy.max_output_chars).collect();
        return Ok(format!(
            "{kept}\n[... output truncated at {} characters]",
            policy.max_output_chars
        ));
    }
    Ok(text)
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

    fn policy(allow: &[&str]) -> ExecPolicy {
        ExecPolicy {
            allowlist: allow.iter().map(|s| (*s).to_owned()).collect(),
            timeout: Duration::from_secs(5),
            max_output_chars: 1000,
        }
    }

    use crate::workspace::scratch as ws;

    #[test]
    fn words_split_on_whitespace_with_quotes_and_no_expansion() {
        assert_eq!(
            split_words(r#"echo "a b" 'c d' $HOME *"#).expect("split"),
            ["echo", "a b", "c d", "$HOME", "*"]
        );
        assert!(split_words("echo 'open").is_err());
    }

    #[tokio::test]
    async fn allow_listed_commands_run_in_the_workspace_without_a_shell() {
        let (_dir, ws) = ws();
        let out = run(&ws, &policy(&["ls", "echo"]), r#"{"command":"ls"}"#)
            .await
            .expect("ls");
        assert!(
            out.starts_with("exit code: 0") && out.contains("SOUL.md"),
            "{out}"
        );
        let out = run(
            &ws,
            &policy(&["echo"]),
            r#"{"command":"echo","args":["$HOME;","`id`"]}"#,
        )
        .await
        .expect("echo");
        assert!(out.contains("$HOME; `id`"), "literal, not expanded: {out}");
    }

    #[tokio::test]
    async fn anything_off_the_list_or_shell_shaped_is_refused() {
        let (_dir, ws) = ws();
        let allow = policy(&["echo"]);
        for arguments in [
            r#"{"command":"rm -rf /"}"#,
            r#"{"command":"/bin/echo hi"}"#,
            r#"{"command":"sh","args":["-c","echo hi"]}"#,
        ] {
            assert!(
                matches!(run(&ws, &allow, arguments).await, Err(ToolError::Denied(_))),
                "{arguments}"
            );
        }
        assert!(matches!(
            run(&ws, &allow, r#"{"command":"echo hi | cat"}"#).await,
            Err(ToolError::Invalid(m)) if m.contains("shell operator")
        ));
    }

    #[tokio::test]
    async fn slow_commands_are_killed_and_output_is_capped() {
        let (_dir, ws) = ws();
        let mut slow = policy(&["sleep", "seq"]);
        slow.timeout = Duration::from_millis(200);
        assert!(matches!(
            run(&ws, &slow, r#"{"command":"sleep 30"}"#).await,
            Err(ToolError::Invalid(m)) if m.contains("did not finish")
        ));
        let out = run(&ws, &policy(&["seq"]), r#"{"command":"seq 1 100000"}"#)
            .await
            .expect("seq");
        assert!(
            out.len() < 1200 && out.contains("output truncated at 1000"),
            "{}",
            out.len()
        );
    }
}
