//! The llm-router through its gRPC API against fake providers, one test binary (each binary
//! links the router and the fakes; one link instead of five).

mod credentials;
mod embeddings;
mod failover;
mod parser_properties;
mod shared_health;
mod support;
mod wires;
