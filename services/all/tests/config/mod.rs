//! The config the tests start services with.

use std::path::{Path, PathBuf};

/// Writes `pincer.json5` in `dir`: one model, at an address where nothing answers (the tests start
/// services, they ask no model), and returns its path.
pub fn unanswered_model(dir: &Path) -> PathBuf {
    let config = dir.join("pincer.json5");
    std::fs::write(
        &config,
        r#"{ models: { providers: { fake: { api: "ollama", baseUrl: "http://127.0.0.1:9",
             models: [{ id: "fake-model" }] } } } }"#,
    )
    .expect("the config is written");
    config
}
