//! The compose deployment: `docker compose` (v2) or `docker-compose` (v1), always with the
//! checkout as project directory and the recorded `.env`, so it works from any directory; and
//! what `up` needs first (images, the tool host's env file, the internal secrets).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::sources::{Sources, shown};
use crate::target::exit;

/// The Pincer images of a stack (the demo profile adds the fake provider).
const IMAGES: [&str; 6] = [
    "nats",
    "llm-router",
    "tool-host",
    "agent-runner",
    "channel-bridge",
    "gateway",
];

/// One compose project: where its files are and how to call compose on it.
pub struct Compose {
    dir: PathBuf,
    env_file: Option<PathBuf>,
    program: Vec<String>,
}

impl Compose {
    /// The project in `dir` with variables from `env_file`.
    pub fn new(dir: &Path, env_file: Option<&Path>) -> Self {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let program = if v2 {
            vec!["docker".to_owned(), "compose".to_owned()]
        } else {
            vec!["docker-compose".to_owned()]
        };
        Self {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned()),
            env_file: env_file.map(Path::to_path_buf),
            program,
        }
    }

    /// `compose <project options> args...`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut options: Vec<OsString> = vec![
            "--project-directory".into(),
            self.dir.clone().into(),
            "-f".into(),
            self.dir.join("compose.yml").into(),
        ];
        if let Some(env_file) = &self.env_file {
            options.push("--env-file".into());
            options.push(env_file.clone().into());
        }
        let mut command = Command::new(&self.program[0]);
        command
            .args(&self.program[1..])
            .args(options)
            .args(args)
            .current_dir(&self.dir);
        command
    }

    /// Runs compose with `args`, its output on the terminal.
    pub fn run(&self, args: &[&str]) -> ExitCode {
        match self.command(args).status() {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
            Err(error) => {
                eprintln!(
                    "pincer: cannot run {}: {error} (install docker-compose, or run natively: PINCER_DEPLOY=native)",
                    self.program.join(" ")
                );
                ExitCode::from(exit::UNAVAILABLE)
            }
        }
    }

    /// Makes what `up` needs and compose does not: the images (built from the checkout when
    /// missing), the tool host's env file, and the internal secrets in `.env`. Says what it did.
    pub fn prepare(&self, sources: &Sources) -> Result<(), ExitCode> {
        let missing = missing_images(sources);
        if !missing.is_empty() {
            let tag = image_tag(sources);
            let script = self.dir.join("scripts/build-images.sh");
            if !script.is_file() {
                eprintln!(
                    "pincer: images missing: {} (tag {tag}); build them in your checkout with scripts/build-images.sh",
                    missing.join(", ")
                );
                return Err(ExitCode::from(exit::UNAVAILABLE));
            }
            let progress = crate::progress::Progress::start(&format!(
                "building the images (scripts/build-images.sh, a few minutes the first time): {} missing",
                missing.join(", ")
            ));
            // Only the missing images: a user's first start does not build the test servers.
            let names = missing
                .iter()
                .filter_map(|image| image.strip_prefix("pincer/")?.split(':').next());
            let mut build = Command::new("bash");
            build
                .arg(&script)
                .args(names)
                .current_dir(&self.dir)
                .env("PINCER_TAG", &tag);
            let built = crate::build_log::run(&mut build, &progress);
            progress.finish();
            if let Err(why) = built {
                eprintln!("pincer: scripts/build-images.sh failed: {why}");
                return Err(ExitCode::from(exit::UNAVAILABLE));
            }
        }
        let tool_env = sources.lookup("PINCER_TOOL_HOST_ENV_FILE").map_or_else(
            || self.dir.join("config/tool-host.env"),
            |p| self.dir.join(p),
        );
        if !tool_env.exists() {
            let dir = tool_env.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir)
                .and_then(|()| crate::secrets::write_private(&tool_env, ""))
                .map_err(|error| {
                    eprintln!("pincer: cannot create {}: {error}", tool_env.display());
                    ExitCode::from(exit::IO)
                })?;
            eprintln!(
                "pincer: created {} (empty): the variables MCP servers reference go there",
                shown(&tool_env)
            );
        }
        if let Some(env_file) = &self.env_file {
            let added = crate::secrets::add_missing(env_file).map_err(|error| {
                eprintln!("pincer: cannot write {}: {error}", env_file.display());
                ExitCode::from(exit::IO)
            })?;
            if added {
                eprintln!(
                    "pincer: generated the internal secrets {} lacked",
                    shown(env_file)
                );
            }
        }
        Ok(())
    }
}

/// `PINCER_TAG`, as compose will see it.
pub fn image_tag(sources: &Sources) -> String {
    sources
        .lookup("PINCER_TAG")
        .unwrap_or_else(|| "local".to_owned())
}

/// The `pincer/*` images this deployment needs that Docker does not have.
pub fn missing_images(sources: &Sources) -> Vec<String> {
    let tag = image_tag(sources);
    let demo = sources
        .lookup("COMPOSE_PROFILES")
        .is_some_and(|profiles| profiles.split(',').any(|p| p.trim() == "demo"));
    let mut images: Vec<&str> = IMAGES.to_vec();
    if demo {
        images.push("fake-provider");
    }
    images
        .into_iter()
        .map(|image| format!("pincer/{image}:{tag}"))
        .filter(|image| {
            !Command::new("docker")
                .args(["image", "inspect", image])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect()
}
