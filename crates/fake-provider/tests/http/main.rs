//! End-to-end tests of the fake over real HTTP on an ephemeral loopback port.

mod anthropic;
mod binary;
mod control;
mod embeddings;
mod knobs;
mod ollama;
mod openai;
mod support;
