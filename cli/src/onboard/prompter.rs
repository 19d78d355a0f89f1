//! Asking on the terminal: a question with a default, a secret without echo, yes or no. Without a
//! terminal (`--non-interactive`) every question takes its default.

use std::io::{BufRead, Write};

/// The wizard's questions, on stdin and stdout.
pub(super) struct Prompter {
    pub interactive: bool,
    pub input: std::io::StdinLock<'static>,
}

impl Prompter {
    /// Asks `question`; Enter (or end of input) takes `default`.
    pub fn ask(&mut self, question: &str, default: &str) -> String {
        if !self.interactive {
            return default.to_owned();
        }
        if default.is_empty() {
            print!("{question}: ");
        } else {
            print!("{question} [{default}]: ");
        }
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if self.input.read_line(&mut line).unwrap_or(0) == 0 {
            return default.to_owned();
        }
        let answer = line.trim();
        if answer.is_empty() {
            default.to_owned()
        } else {
            answer.to_owned()
        }
    }

    /// Reads a secret without echoing it on a terminal.
    pub fn secret(&mut self, question: &str, existing: bool) -> Option<String> {
        if !self.interactive {
            return None;
        }
        let hint = if existing {
            " (Enter keeps the current one)"
        } else {
            " (Enter to skip)"
        };
        print!("{question}{hint}: ");
        let _ = std::io::stdout().flush();
        let echo_off = EchoOff::new();
        let mut line = String::new();
        let read = self.input.read_line(&mut line).unwrap_or(0);
        drop(echo_off);
        println!();
        let answer = line.trim();
        (read > 0 && !answer.is_empty()).then(|| answer.to_owned())
    }

    /// Asks a yes/no question.
    pub fn yes(&mut self, question: &str, default: bool) -> bool {
        let answer = self.ask(question, if default { "Y/n" } else { "y/N" });
        match answer.to_ascii_lowercase().as_str() {
            "y" | "yes" => true,
            "n" | "no" => false,
            _ => default,
        }
    }
}

/// Turns terminal echo off while alive (no-op when stdin is not a terminal).
struct EchoOff(Option<nix::sys::termios::Termios>);

impl EchoOff {
    fn new() -> Self {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let Ok(original) = termios::tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut quiet = original.clone();
        quiet.local_flags.remove(termios::LocalFlags::ECHO);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &quiet);
        Self(Some(original))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                original,
            );
        }
    }
}
