//! Every parser that faces the network, fuzzed from corpora (proptest at scale); one test binary.

mod config_file;
mod control_frame;
mod openai_request;
mod provider_stream;
mod telegram_update;
mod webhook_body;
