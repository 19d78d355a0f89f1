//! Asking on the terminal: a question with a default, a secret without echo, yes or no, a path.
//! Without a terminal (`--non-interactive`) every question takes its default.
//!
//! Ctrl-D on an empty answer is read as "I want out": the first one says how to quit and asks
//! again, a second one in a row quits ([`Quit`]) before anything is written. Ctrl-C quits at once
//! (while a secret is typed the terminal is raw, so it arrives as a byte and is handled here; the
//! terminal is always given back as it was).

use std::io::{BufRead, Read, Write};

/// The person chose to leave onboarding (Ctrl-D twice, or Ctrl-C while typing a secret).
#[derive(Debug)]
pub(super) struct Quit;

/// What one read gave.
enum Line {
    Text(String),
    EndOfInput,
}

/// The wizard's questions, on stdin and stdout.
pub(super) struct Prompter {
    pub interactive: bool,
    pub input: std::io::StdinLock<'static>,
    /// Ctrl-Ds in a row.
    ends: u8,
}

impl Prompter {
    /// Questions on this process's terminal (or none, when not `interactive`).
    pub fn new(interactive: bool) -> Self {
        Self {
            interactive,
            input: std::io::stdin().lock(),
            ends: 0,
        }
    }

    /// Counts an end of input: the first gets a second chance, the second quits.
    fn ended(&mut self) -> Result<(), Quit> {
        self.ends += 1;
        if self.ends >= 2 {
            println!();
            return Err(Quit);
        }
        println!("\n(Ctrl-D again quits without writing anything; Enter takes the default)");
        Ok(())
    }

    /// Asks `question`; Enter takes `default`.
    pub fn ask(&mut self, question: &str, default: &str) -> Result<String, Quit> {
        if !self.interactive {
            return Ok(default.to_owned());
        }
        loop {
            if default.is_empty() {
                print!("{question}: ");
            } else {
                print!("{question} [{default}]: ");
            }
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            match self.input.read_line(&mut line) {
                Ok(0) | Err(_) => self.ended()?,
                Ok(_) => {
                    self.ends = 0;
                    let answer = line.trim();
                    return Ok(if answer.is_empty() {
                        default.to_owned()
                    } else {
                        answer.to_owned()
                    });
                }
            }
        }
    }

    /// Reads a secret without echoing it; `None` when skipped (Enter).
    pub fn secret(&mut self, question: &str, existing: bool) -> Result<Option<String>, Quit> {
        if !self.interactive {
            return Ok(None);
        }
        let hint = if existing {
            " (Enter keeps the current one)"
        } else {
            " (Enter to skip)"
        };
        loop {
            // Raw before the prompt shows: what is typed as soon as it appears is not echoed.
            let read = {
                let _raw = Raw::new();
                print!("{question}{hint}: ");
                let _ = std::io::stdout().flush();
                self.read_hidden()
            };
            println!();
            match read? {
                Line::EndOfInput => self.ended()?,
                Line::Text(text) => {
                    self.ends = 0;
                    let answer = text.trim();
                    return Ok((!answer.is_empty()).then(|| answer.to_owned()));
                }
            }
        }
    }

    /// One line typed while the terminal is raw: Enter ends it, Backspace and Ctrl-U edit it,
    /// Ctrl-C quits, Ctrl-D on an empty line is the end of input.
    fn read_hidden(&mut self) -> Result<Line, Quit> {
        let mut typed: Vec<u8> = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.input.read(&mut byte) {
                Ok(0) | Err(_) if typed.is_empty() => return Ok(Line::EndOfInput),
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match byte[0] {
                b'\n' | b'\r' => break,
                0x03 => return Err(Quit),
                0x04 if typed.is_empty() => return Ok(Line::EndOfInput),
                0x7f | 0x08 => {
                    typed.pop();
                }
                0x15 => typed.clear(),
                b if b >= 0x20 => typed.push(b),
                _ => {}
            }
        }
        Ok(Line::Text(String::from_utf8_lossy(&typed).into_owned()))
    }

    /// Asks a yes/no question; anything but yes or no asks again.
    pub fn yes(&mut self, question: &str, default: bool) -> Result<bool, Quit> {
        loop {
            let answer = self.ask(question, if default { "Y/n" } else { "y/N" })?;
            match answer.to_ascii_lowercase().as_str() {
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                "y/n" => return Ok(default),
                _ => println!("  yes or no?"),
            }
        }
    }
}

/// Raw input while alive: no echo, no line editing, Ctrl-C as a byte (no-op when stdin is not a
/// terminal). Dropping it restores the terminal, also when the read failed.
struct Raw(Option<nix::sys::termios::Termios>);

impl Raw {
    fn new() -> Self {
        use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices};
        let stdin = std::io::stdin();
        let Ok(original) = termios::tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut raw = original.clone();
        raw.local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        Self(Some(original))
    }
}

impl Drop for Raw {
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
