//! End-to-end tests of the fake over real HTTP on an ephemeral loopback port.

mod binary;
mod control;
mod ollama;
mod openai;
mod support;
