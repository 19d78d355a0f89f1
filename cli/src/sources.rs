//! Where a command's settings come from: the config file, and the `.env` files whose variables
//! fill its `${VAR}`s. Every command finds them the same way, so what `pincer onboard` wrote is
//! what `doctor`, `config validate`, `dev` and the gateway commands read.
//!
//! - The config: `--config`, else `$PINCER_CONFIG`, else `./config/pincer.json5` (a checkout),
//!   else `~/.pincer/pincer.json5`.
//! - Variables: the process environment, then the `.env` that belongs to the config (beside it;
//!   for a checkout's `config/pincer.json5`, the checkout's `.env`), then `./.env`. An explicit
//!   `--config` therefore brings its own `.env`, which wins over the working directory's.

use std::path::{Path, PathBuf};

/// The config file and the `.env` files of one command.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The config file, when one was named or found (it may not exist when named).
    pub config: Option<PathBuf>,
    /// Every `.env` consulted, highest precedence first, with its text (`None`: not there).
    pub env_files: Vec<(PathBuf, Option<String>)>,
}

/// The default config when none exists yet: a checkout's, else the home's.
fn search_path() -> [PathBuf; 2] {
    [
        PathBuf::from("config/pincer.json5"),
        pincer_lifecycle::env::config_path(),
    ]
}

/// The config file to use: `explicit`, else `$PINCER_CONFIG`, else the first that exists of
/// `./config/pincer.json5` and `~/.pincer/pincer.json5`.
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if std::env::var("PINCER_CONFIG").is_ok_and(|p| !p.trim().is_empty()) {
        return Some(pincer_lifecycle::env::config_path());
    }
    search_path().into_iter().find(|p| p.is_file())
}

/// The config file a command that edits one works on: [`config_file`], else the checkout's
/// `config/pincer.json5`.
pub fn config_file_or_default(explicit: Option<&Path>) -> PathBuf {
    config_file(explicit).unwrap_or_else(|| PathBuf::from("config/pincer.json5"))
}

/// The `.env` that belongs to `config`: beside it, or the checkout's for a checkout's
/// `config/pincer.json5` (where `compose.yml` and `scripts/up.sh` expect it).
pub fn own_env_file(config: &Path) -> PathBuf {
    let dir = match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    if dir.file_name().is_some_and(|name| name == "config") {
        let checkout = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if checkout.join("compose.yml").is_file() {
            return checkout.join(".env");
        }
    }
    dir.join(".env")
}

/// `NAME=value` from an env file's text (quotes around the value removed; empty is unset).
pub fn env_value_in(text: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(&prefix)?;
        let value = value.trim().trim_matches('"').trim_matches('\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// `NAME=value` from an env file.
pub fn env_value(path: &Path, name: &str) -> Option<String> {
    env_value_in(&std::fs::read_to_string(path).ok()?, name)
}

/// A variable from the process environment, when set and not empty.
pub fn process_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Sources {
    /// The sources of a command given `--config` (or not).
    pub fn find(explicit: Option<&Path>) -> Self {
        Self::with_config(config_file(explicit))
    }

    /// The sources for `config`: its own `.env`, then `./.env`.
    pub fn with_config(config: Option<PathBuf>) -> Self {
        let mut paths = Vec::new();
        if let Some(config) = &config {
            paths.push(own_env_file(config));
        }
        let here = PathBuf::from(".env");
        if !paths.iter().any(|p| same_file(p, &here)) {
            paths.push(here);
        }
        let env_files = paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).ok();
                (path, text)
            })
            .collect();
        Self { config, env_files }
    }

    /// The same, with `explicit` (`--env-file`) read before the others.
    pub fn with_env_file(mut self, explicit: Option<PathBuf>) -> Self {
        if let Some(path) = explicit {
            self.env_files.retain(|(known, _)| !same_file(known, &path));
            let text = std::fs::read_to_string(&path).ok();
            self.env_files.insert(0, (path, text));
        }
        self
    }

    /// A variable: the process environment, then the `.env` files in order.
    pub fn lookup(&self, name: &str) -> Option<String> {
        process_value(name).or_else(|| self.file_value(name))
    }

    /// A variable from the `.env` files only.
    pub fn file_value(&self, name: &str) -> Option<String> {
        self.env_files
            .iter()
            .filter_map(|(_, text)| text.as_deref())
            .find_map(|text| env_value_in(text, name))
    }

    /// Every variable the `.env` files set and the process environment does not: what a process
    /// started from here (`pincer dev`) must be given.
    pub fn file_variables(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for text in self
            .env_files
            .iter()
            .filter_map(|(_, text)| text.as_deref())
        {
            for line in text.lines() {
                let Some((name, _)) = line.trim().split_once('=') else {
                    continue;
                };
                let name = name.trim();
                let usable = !name.is_empty()
                    && !name.starts_with('#')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !usable || out.iter().any(|(known, _)| known == name) {
                    continue;
                }
                if process_value(name).is_none()
                    && let Some(value) = env_value_in(text, name)
                {
                    out.push((name.to_owned(), value));
                }
            }
        }
        out
    }

    /// The `.env` a command writes to or checks first: the config's own one.
    pub fn own_env_file(&self) -> PathBuf {
        self.config
            .as_deref()
            .map_or_else(|| PathBuf::from(".env"), own_env_file)
    }

    /// The first `.env` that exists, else the config's own one (where one would be created).
    pub fn main_env_file(&self) -> PathBuf {
        self.env_files
            .iter()
            .find(|(_, text)| text.is_some())
            .map_or_else(|| self.own_env_file(), |(path, _)| path.clone())
    }

    /// Loads the config (when there is one), resolving `${VAR}`s in `scope` from [`Self::lookup`].
    pub fn load(
        &self,
        scope: pincer_config::Scope,
    ) -> Result<Option<pincer_config::Config>, pincer_config::Error> {
        let Some(path) = &self.config else {
            return Ok(None);
        };
        let lookup = |name: &str| self.lookup(name);
        pincer_config::load_file(path, &lookup, scope).map(Some)
    }

    /// One line per file: what was read and what was not there, for `doctor`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.config {
            Some(path) if path.is_file() => lines.push(format!("config {}", shown(path))),
            Some(path) => lines.push(format!("config {} (does not exist)", shown(path))),
            None => lines.push(
                "no config (looked at $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5)"
                    .to_owned(),
            ),
        }
        for (path, text) in &self.env_files {
            let state = if text.is_some() { "" } else { " (not there)" };
            lines.push(format!(".env {}{state}", shown(path)));
        }
        lines
    }
}

/// A path as a person reads it: absolute, with the home directory as `~`.
pub fn shown(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if !home.as_os_str().is_empty() => match absolute.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => absolute.display().to_string(),
        },
        _ => absolute.display().to_string(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::path::absolute(a), std::path::absolute(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
