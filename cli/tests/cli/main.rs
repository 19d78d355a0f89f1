//! The `pincer` binary: its commands against files, a pty and a running stack; one test binary.

mod cli;
mod commands;
mod stack;
mod systemd;
