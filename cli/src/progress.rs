//! Progress on long work (waiting for the stack, building images, doctor's checks): a spinner with
//! the time so far on a terminal, plain lines otherwise (a log, CI, a pipe), so output that is
//! read later has no control characters in it. Always on stderr: stdout stays the command's
//! answer (`--json` included).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// One piece of long work.
pub struct Progress {
    /// The spinner, on a terminal.
    bar: Option<ProgressBar>,
    /// In plain mode, the last quarter of a transfer reported (so a log gets four lines).
    quarter: std::cell::Cell<Option<u64>>,
}

impl Progress {
    /// Starts showing `message`: a spinner on a terminal, else one line now.
    pub fn start(message: &str) -> Self {
        if !on_terminal() {
            eprintln!("pincer: {message}");
            return Self {
                bar: None,
                quarter: std::cell::Cell::new(None),
            };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar: Some(bar),
            quarter: std::cell::Cell::new(None),
        }
    }

    /// A transfer of `total` bytes, `done` so far, under `message`: a bar with sizes and speed
    /// on a terminal, a line at each quarter otherwise.
    pub fn bytes(&self, message: &str, done: u64, total: u64) {
        match &self.bar {
            Some(bar) => {
                if bar.length() != Some(total) {
                    // A new layer: its own bar (and speed) from zero.
                    bar.reset();
                    bar.set_length(total);
                }
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(message.to_owned());
                bar.set_position(done.min(total));
            }
            None => {
                let quarter = done.saturating_mul(4) / total.max(1);
                if self.quarter.get() != Some(quarter) {
                    self.quarter.set(Some(quarter));
                    eprintln!("pincer: {message}: {}%", quarter * 25);
                }
            }
        }
    }

    /// A step without a size (`verifying sha256 digest`): the spinner's message, or a line.
    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(message.to_owned());
            }
            None => eprintln!("pincer: {message}"),
        }
    }

    /// What is happening now (a build's last line): shown on the spinner only, since a plain
    /// log would repeat it for every step.
    pub fn update(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    /// Whether a spinner is shown (the caller then keeps child output off the terminal).
    pub fn is_spinner(&self) -> bool {
        self.bar.is_some()
    }

    /// Ends the work: the spinner is cleared (the caller prints the outcome).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// stderr is a terminal that can redraw a line.
fn on_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |term| term != "dumb")
}
