//! `pincer config validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use pincer_lifecycle::entry::EXIT_CONFIG;

/// Validates every section of `file` with the process environment.
pub fn validate(file: PathBuf) -> ExitCode {
    match pincer_config::load_file(
        &file,
        &pincer_config::process_env,
        pincer_config::Scope::All,
    ) {
        Ok(_) => {
            println!("config ok: {}", file.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("invalid config: {error}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
