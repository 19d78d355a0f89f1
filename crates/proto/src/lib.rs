//! Protobuf contracts shared by the services.
//!
//! The Rust code under `src/gen/` is generated from `proto/` at the workspace root and committed, so
//! builds (and image builds) need no `protoc`. `tests/bootstrap.rs` regenerates it and fails when the
//! committed copy is stale; run it with `PINCER_BLESS=1` to rewrite it after editing a `.proto`.

/// `pincer.llm.v1`: the llm-router's chat and model-catalogue API.
pub mod llm {
    /// Version 1 of the llm-router API.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod v1 {
        include!("gen/pincer.llm.v1.rs");
    }
}

/// `pincer.tools.v1`: the tool host's catalogue and tool calls.
pub mod tools {
    /// Version 1 of the tool host API.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod v1 {
        include!("gen/pincer.tools.v1.rs");
    }
}

pub mod json;
