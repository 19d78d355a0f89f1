//! End-to-end tests of the fake over real HTTP on an ephemeral loopback port.

mod anthropic;
mod binary;
mod control;
mod knobs;
mod ollama;
mod openai;
mod support;
