//! A program run on a pseudo-terminal, driven as a person would: wait for a prompt, type an
//! answer, press Ctrl-D. Every wait has a deadline; what the program printed is kept for the
//! failure message.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Patience for one prompt.
const PATIENCE: Duration = Duration::from_secs(30);

/// A child process whose stdin, stdout and stderr are one terminal.
pub struct Terminal {
    child: Child,
    master: std::fs::File,
    output: Receiver<Vec<u8>>,
    /// Printed and not yet matched by [`Terminal::expect`].
    pending: String,
    /// Everything printed.
    transcript: String,
}

impl Terminal {
    /// Starts `command` on a new pseudo-terminal.
    pub fn spawn(command: &mut Command) -> Self {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave = std::fs::File::from(pty.slave);
        let child = command
            .stdin(slave.try_clone().expect("pty"))
            .stdout(slave.try_clone().expect("pty"))
            .stderr(slave)
            .spawn()
            .expect("the program starts");
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().expect("pty");
        let (sender, output) = channel();
        // Reading blocks; a thread does it so every wait below can have a deadline. It ends when
        // the program has exited and closed the terminal (the read fails).
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            master,
            output,
            pending: String::new(),
            transcript: String::new(),
        }
    }

    fn take(&mut self, chunk: &[u8]) {
        let text = String::from_utf8_lossy(chunk);
        self.pending.push_str(&text);
        self.transcript.push_str(&text);
    }

    /// Waits until the program prints `text` (after what was matched before).
    pub fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.pending.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.take(&chunk),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {text:?} within {PATIENCE:?}; the terminal shows:\n{}",
                        self.transcript
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the program ended before printing {text:?}:\n{}",
                        self.transcript
                    )
                }
            }
        }
        if let Some((_, rest)) = self.pending.split_once(text) {
            self.pending = rest.to_owned();
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Waits for `prompt`, then types `line` and Enter.
    pub fn answer(&mut self, prompt: &str, line: &str) {
        self.expect(prompt);
        self.type_line(line);
    }

    /// Sends raw bytes (`b"\x04"` is Ctrl-D).
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the terminal");
    }

    /// Waits (up to `patience`) for the program to exit; returns its status and all it printed.
    pub fn finish(mut self, patience: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + patience;
        loop {
            while let Ok(chunk) = self.output.try_recv() {
                self.take(&chunk);
            }
            if let Some(status) = self.child.try_wait().expect("wait for the program") {
                // What it printed last may still be in flight.
                while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(200)) {
                    self.take(&chunk);
                }
                return (status, std::mem::take(&mut self.transcript));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the program did not exit within {patience:?}:\n{}",
                self.transcript
            );
            if let Ok(chunk) = self
                .output
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                self.take(&chunk);
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
