//! Where and how the stack runs, so `pincer gateway start|stop|restart|logs` work from any
//! directory: docker compose with a checkout's `compose.yml`, or the processes of `pincer dev` in
//! the background (native).
//!
//! `pincer onboard` records the choice in the config's `.env`: `PINCER_DEPLOY=compose` with
//! `PINCER_COMPOSE_DIR` (the checkout), or `PINCER_DEPLOY=native`. Without a record, a checkout in
//! the working directory means compose and a config anywhere else means native.

use std::path::{Path, PathBuf};

use crate::sources::{Sources, shown};

/// The variable that names the deployment kind.
pub const DEPLOY: &str = "PINCER_DEPLOY";
/// The variable that names the checkout holding `compose.yml`.
pub const COMPOSE_DIR: &str = "PINCER_COMPOSE_DIR";

/// How the stack runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// `docker compose` with `dir/compose.yml`, its variables from `env_file`.
    Compose {
        /// The checkout (compose's project directory).
        dir: PathBuf,
        /// The `.env` compose reads (`--env-file`), when there is one.
        env_file: Option<PathBuf>,
    },
    /// `pincer dev` in the background, for `config`.
    Native {
        /// The config the services load.
        config: PathBuf,
    },
}

/// Why no deployment could be worked out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `PINCER_DEPLOY` has a value nobody knows.
    #[error("PINCER_DEPLOY={0:?} is neither compose nor native (set it in {1})")]
    Unknown(String, String),
    /// The recorded checkout has no `compose.yml`.
    #[error(
        "{0}/compose.yml does not exist (PINCER_COMPOSE_DIR in {1}): point it at your Pincer checkout, or run `pincer onboard` again"
    )]
    NoCompose(String, String),
    /// Compose was chosen without saying where the checkout is.
    #[error(
        "PINCER_DEPLOY=compose but no PINCER_COMPOSE_DIR (in {0}) and no compose.yml here: set it to your Pincer checkout"
    )]
    NoComposeDir(String),
    /// Native mode without a config.
    #[error(
        "nothing to run: no config found; run `pincer onboard` first (or run this in a Pincer checkout)"
    )]
    NoConfig,
}

impl Deployment {
    /// The deployment `sources` describe.
    pub fn resolve(sources: &Sources) -> Result<Self, Error> {
        let recorded_in = || shown(&sources.main_env_file());
        let compose_here = Path::new("compose.yml").is_file();
        match sources.lookup(DEPLOY).as_deref() {
            Some("compose") => {
                let dir = match sources.lookup(COMPOSE_DIR) {
                    Some(dir) => PathBuf::from(dir),
                    None if compose_here => current_dir(),
                    None => return Err(Error::NoComposeDir(recorded_in())),
                };
                if !dir.join("compose.yml").is_file() {
                    return Err(Error::NoCompose(dir.display().to_string(), recorded_in()));
                }
                Ok(Self::Compose {
                    dir,
                    env_file: existing_env_file(sources),
                })
            }
            Some("native") => sources
                .config
                .clone()
                .map(|config| Self::Native { config })
                .ok_or(Error::NoConfig),
            Some(other) => Err(Error::Unknown(other.to_owned(), recorded_in())),
            None if compose_here => Ok(Self::Compose {
                dir: current_dir(),
                env_file: existing_env_file(sources),
            }),
            None => match &sources.config {
                Some(config) if config.is_file() => Ok(Self::Native {
                    config: config.clone(),
                }),
                _ => Err(Error::NoConfig),
            },
        }
    }

    /// One line for people: what runs the stack.
    pub fn describe(&self) -> String {
        match self {
            Self::Compose { dir, env_file } => format!(
                "docker compose with {}/compose.yml{}",
                shown(dir),
                env_file
                    .as_deref()
                    .map(|env| format!(" and {}", shown(env)))
                    .unwrap_or_default()
            ),
            Self::Native { config } => format!(
                "processes on this machine (pincer dev) with {}",
                shown(config)
            ),
        }
    }
}

fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn existing_env_file(sources: &Sources) -> Option<PathBuf> {
    sources
        .env_files
        .iter()
        .find(|(_, text)| text.is_some())
        .map(|(path, _)| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
}

/// A Pincer checkout to offer at onboarding: the working directory, else one above the `pincer`
/// binary (`<checkout>/target/release/pincer`).
pub fn find_checkout() -> Option<PathBuf> {
    let is_checkout =
        |dir: &Path| dir.join("compose.yml").is_file() && dir.join("scripts/up.sh").is_file();
    let here = current_dir();
    if is_checkout(&here) {
        return Some(here);
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| is_checkout(dir))
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, env: &str) -> Sources {
        let config = dir.join("pincer.json5");
        std::fs::write(&config, "{}").unwrap();
        std::fs::write(dir.join(".env"), env).unwrap();
        Sources {
            config: Some(config),
            env_files: vec![(dir.join(".env"), Some(env.to_owned()))],
        }
    }

    #[test]
    fn the_recorded_deployment_is_used() {
        let home = tempfile::tempdir().unwrap();
        let checkout = tempfile::tempdir().unwrap();
        std::fs::write(checkout.path().join("compose.yml"), "services: {}\n").unwrap();
        let compose = sources(
            home.path(),
            &format!(
                "PINCER_DEPLOY=compose\nPINCER_COMPOSE_DIR={}\n",
                checkout.path().display()
            ),
        );
        assert_eq!(
            Deployment::resolve(&compose).unwrap(),
            Deployment::Compose {
                dir: checkout.path().to_owned(),
                env_file: Some(home.path().join(".env")),
            }
        );
        let native = sources(home.path(), "PINCER_DEPLOY=native\n");
        assert_eq!(
            Deployment::resolve(&native).unwrap(),
            Deployment::Native {
                config: home.path().join("pincer.json5")
            }
        );
        let missing = sources(
            home.path(),
            "PINCER_DEPLOY=compose\nPINCER_COMPOSE_DIR=/nowhere\n",
        );
        let error = Deployment::resolve(&missing).unwrap_err().to_string();
        assert!(error.contains("/nowhere/compose.yml"), "{error}");
        let odd = sources(home.path(), "PINCER_DEPLOY=kubernetes\n");
        assert!(matches!(Deployment::resolve(&odd), Err(Error::Unknown(..))));
    }
}
