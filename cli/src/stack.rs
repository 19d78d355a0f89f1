//! `pincer gateway start|stop|restart|logs` for whichever deployment runs the stack: installed
//! systemd units when there are (`pincer gateway install`), else what the settings describe
//! ([`Deployment`]): compose from the recorded checkout, or `pincer dev` in the background.
//! `start` returns once the gateway answers `/readyz`, and says where.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::compose::Compose;
use crate::deploy::Deployment;
use crate::native::Native;
use crate::sources::{Sources, shown};
use crate::systemd::{self, Installed, Process, control};
use crate::target::exit;

/// One deployment and the settings it was found from.
pub struct Stack {
    sources: Sources,
    kind: Kind,
}

/// What runs the stack.
enum Kind {
    /// Compose or `pincer dev`, as the settings say.
    Recorded(Deployment),
    /// Installed systemd units: they win, since they start the stack at boot whatever the
    /// settings say.
    Systemd(Installed),
}

impl Stack {
    fn resolve(config: Option<&Path>) -> Result<Self, crate::deploy::Error> {
        if let Some(installed) = Installed::find() {
            // The units run with the config they recorded; `--config` still wins for the port.
            let config = config
                .map(Path::to_path_buf)
                .or_else(|| installed.config.clone());
            return Ok(Self {
                sources: Sources::find(config.as_deref()),
                kind: Kind::Systemd(installed),
            });
        }
        let sources = Sources::find(config);
        let deployment = Deployment::resolve(&sources)?;
        Ok(Self {
            sources,
            kind: Kind::Recorded(deployment),
        })
    }

    /// The deployment of `config` (or of the config found as every command finds it); what is
    /// missing is said.
    pub fn find(config: Option<&Path>) -> Result<Self, ExitCode> {
        Self::resolve(config).map_err(|error| {
            eprintln!("pincer: {error}");
            ExitCode::from(exit::CONFIG)
        })
    }

    /// The deployment, when one can be worked out (nothing said when not).
    pub fn find_quietly(config: Option<&Path>) -> Option<Self> {
        Self::resolve(config).ok()
    }

    fn compose(&self) -> Option<Compose> {
        match &self.kind {
            Kind::Recorded(Deployment::Compose { dir, env_file }) => {
                Some(Compose::new(dir, env_file.as_deref()))
            }
            _ => None,
        }
    }

    /// The compose project name, for a compose deployment.
    pub fn compose_project(&self) -> Option<String> {
        let Kind::Recorded(Deployment::Compose { dir, .. }) = &self.kind else {
            return None;
        };
        self.sources.lookup("COMPOSE_PROJECT_NAME").or_else(|| {
            std::path::absolute(dir)
                .ok()?
                .file_name()
                .map(|name| name.to_string_lossy().to_lowercase())
        })
    }

    /// Each unit's state, for a systemd deployment.
    pub fn unit_states(&self) -> Option<Vec<control::UnitState>> {
        match &self.kind {
            Kind::Systemd(installed) => Some(control::states(installed.scope)),
            Kind::Recorded(_) => None,
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            Kind::Recorded(deployment) => deployment.describe(),
            Kind::Systemd(installed) => installed.describe(),
        }
    }

    /// Starts the stack and waits until the gateway is ready.
    pub async fn start(&self) -> ExitCode {
        let gateway = match crate::target::resolve_with(None, &self.sources) {
            Ok(gateway) => gateway,
            Err(error) => {
                eprintln!("pincer: {error}");
                return ExitCode::from(exit::CONFIG);
            }
        };
        eprintln!("pincer: starting: {}", self.describe());
        let started = Instant::now();
        let outcome = match &self.kind {
            Kind::Recorded(Deployment::Compose { .. }) => self.start_compose(&gateway.base).await,
            Kind::Recorded(Deployment::Native { config }) => {
                start_native(config, &gateway.base).await
            }
            Kind::Systemd(installed) => {
                self.start_systemd(installed, "start", systemd::TARGET, &gateway.base)
                    .await
            }
        };
        if let Err(code) = outcome {
            return code;
        }
        println!(
            "ready in {:.1} s: {}/v1/chat/completions",
            started.elapsed().as_secs_f64(),
            gateway.base
        );
        println!(
            "next: pincer dashboard --open (the Control UI), pincer gateway status, pincer gateway logs"
        );
        ExitCode::SUCCESS
    }

    async fn start_compose(&self, base: &str) -> Result<(), ExitCode> {
        let Some(compose) = self.compose() else {
            return Err(ExitCode::from(exit::CONFIG));
        };
        compose.prepare(&self.sources)?;
        let code = compose.run(&["up", "-d"]);
        if code != ExitCode::SUCCESS {
            return Err(code);
        }
        wait_ready(base, patience(), || true).await.map_err(|waited| {
            eprintln!(
                "pincer: the gateway is not ready at {base} after {waited:.0?}: `pincer gateway status` and `pincer gateway logs` say why"
            );
            ExitCode::from(exit::UNAVAILABLE)
        })
    }

    /// Writes the services' env files from `.env` again, so what was edited there applies.
    fn refresh_env_files(&self, installed: &Installed) {
        let refreshed = systemd::Layout::of(installed.scope).and_then(|layout| {
            systemd::install::write_env_files(&layout, &self.sources)
                .map_err(|refusal| refusal.message().to_owned())
        });
        if let Err(error) = refreshed {
            eprintln!("pincer: warning: the services keep their env files as they were: {error}");
        }
    }

    /// `systemctl <verb> <unit>` with fresh env files, then waits until the gateway is ready
    /// (or its unit fails).
    async fn start_systemd(
        &self,
        installed: &Installed,
        verb: &str,
        unit: &str,
        base: &str,
    ) -> Result<(), ExitCode> {
        self.refresh_env_files(installed);
        let scope = installed.scope;
        let code = control::systemctl(scope, verb, unit);
        if code != ExitCode::SUCCESS {
            return Err(code);
        }
        let ready = wait_ready(base, patience(), || {
            !control::failed(scope, Process::Gateway)
        })
        .await;
        ready.map_err(|waited| {
            eprintln!(
                "pincer: the gateway is not ready at {base} after {waited:.0?}: `pincer gateway logs` and `systemctl {} status {}` say why",
                scope.flag(),
                systemd::TARGET
            );
            ExitCode::from(exit::UNAVAILABLE)
        })
    }

    /// Stops the stack (its data stays).
    pub async fn stop(&self) -> ExitCode {
        match &self.kind {
            Kind::Recorded(Deployment::Compose { .. }) => self
                .compose()
                .map_or(ExitCode::FAILURE, |c| c.run(&["stop"])),
            Kind::Recorded(Deployment::Native { config }) => Native::new(config).stop().await,
            Kind::Systemd(installed) => {
                control::systemctl(installed.scope, "stop", systemd::TARGET)
            }
        }
    }

    /// Restarts the stack, or one service of a compose or systemd stack.
    pub async fn restart(&self, service: Option<&str>) -> ExitCode {
        match &self.kind {
            Kind::Systemd(installed) => {
                let unit = match control::unit_of(service) {
                    Ok(unit) => unit,
                    Err(error) => {
                        eprintln!("pincer: {error}");
                        return ExitCode::from(exit::USAGE);
                    }
                };
                let Ok(gateway) = crate::target::resolve_with(None, &self.sources) else {
                    return control::systemctl(installed.scope, "restart", &unit);
                };
                match self
                    .start_systemd(installed, "restart", &unit, &gateway.base)
                    .await
                {
                    Ok(()) => {
                        println!("restarted {unit}; ready: {}", gateway.base);
                        ExitCode::SUCCESS
                    }
                    Err(code) => code,
                }
            }
            Kind::Recorded(Deployment::Compose { .. }) => {
                let mut args = vec!["restart"];
                args.extend(service);
                self.compose().map_or(ExitCode::FAILURE, |c| c.run(&args))
            }
            Kind::Recorded(Deployment::Native { config }) => {
                if let Some(service) = service {
                    eprintln!(
                        "pincer: natively the services run under one pincer dev: restarting all of them, not only {service}"
                    );
                }
                let stopped = Native::new(config).stop().await;
                if stopped != ExitCode::SUCCESS {
                    return stopped;
                }
                self.start().await
            }
        }
    }

    /// Prints the services' logs.
    pub async fn logs(&self, service: Option<&str>, follow: bool, tail: usize) -> ExitCode {
        match &self.kind {
            Kind::Recorded(Deployment::Compose { .. }) => {
                let tail = tail.to_string();
                let mut args = vec!["logs", "--tail", tail.as_str()];
                if follow {
                    args.push("--follow");
                }
                args.extend(service);
                self.compose().map_or(ExitCode::FAILURE, |c| c.run(&args))
            }
            Kind::Recorded(Deployment::Native { config }) => {
                Native::new(config).logs(service, follow, tail).await
            }
            Kind::Systemd(installed) => control::logs(installed.scope, service, follow, tail),
        }
    }
}

async fn start_native(config: &Path, base: &str) -> Result<(), ExitCode> {
    let native = Native::new(config);
    let mut child = match native.spawn() {
        Ok(Some(child)) => child,
        Ok(None) => return Ok(()),
        Err(error) => {
            eprintln!("pincer: {error}");
            return Err(ExitCode::from(exit::UNAVAILABLE));
        }
    };
    let ready = wait_ready(base, patience(), || matches!(child.try_wait(), Ok(None))).await;
    if let Err(waited) = ready {
        eprintln!(
            "pincer: pincer dev is not ready at {base} after {waited:.0?}; the end of {}:\n{}",
            shown(&native.log_file()),
            native.log_tail(20)
        );
        return Err(ExitCode::from(exit::UNAVAILABLE));
    }
    eprintln!(
        "pincer: pincer dev runs as pid {} (log: {})",
        child.id(),
        shown(&native.log_file())
    );
    Ok(())
}

/// How long `start` waits for readiness: `PINCER_UP_WAIT_SECS`, else 90 s.
fn patience() -> Duration {
    Duration::from_secs(
        crate::sources::process_value("PINCER_UP_WAIT_SECS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(90),
    )
}

/// Polls `base/readyz` until it answers 200, `patience` passes (`Err` with the time waited) or
/// `still_running` says the process gave up.
async fn wait_ready(
    base: &str,
    patience: Duration,
    mut still_running: impl FnMut() -> bool,
) -> Result<(), Duration> {
    let url = format!("{base}/readyz");
    let started = Instant::now();
    let progress = crate::progress::Progress::start(&format!("waiting for {url}"));
    let outcome = loop {
        if pincer_lifecycle::probe::http_get_ok(&url, Duration::from_secs(2))
            .await
            .is_ok()
        {
            break Ok(());
        }
        if started.elapsed() > patience || !still_running() {
            break Err(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    progress.finish();
    outcome
}
