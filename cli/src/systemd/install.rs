//! `pincer gateway install|uninstall`: writes the units, NATS's permission file and each
//! service's env file, makes the state directories, and has systemd load and enable the target;
//! `uninstall` stops, disables and removes all of it but the data.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::plan::{self, Inputs};
use super::{Installed, Layout, Process, Scope, TARGET, control, environment};
use crate::sources::{Sources, shown};
use crate::target::exit;

/// What `pincer gateway install` was asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// Whose systemd runs the units.
    pub scope: Scope,
    /// Where the service binaries are (default: beside this `pincer`).
    pub bin_dir: Option<PathBuf>,
    /// The nats-server binary (default: the bin dir's, `$NATS_SERVER_BIN`, then `PATH`'s).
    pub nats_bin: Option<PathBuf>,
    /// NATS's client port on 127.0.0.1.
    pub nats_port: u16,
    /// The config (default: found as every command finds it).
    pub config: Option<PathBuf>,
    /// The user system units run as.
    pub run_as: String,
    /// Only write the files: no `daemon-reload`, no `enable`.
    pub no_enable: bool,
}

/// A refusal: its exit code and what to tell the user.
pub struct Refusal(u8, String);

impl Refusal {
    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.1
    }
}

/// Runs `pincer gateway install`.
pub fn install(request: &Request) -> ExitCode {
    match try_install(request) {
        Ok(code) => code,
        Err(Refusal(code, message)) => {
            eprintln!("pincer: {message}");
            ExitCode::from(code)
        }
    }
}

fn try_install(request: &Request) -> Result<ExitCode, Refusal> {
    let config_refusal = |message: String| Refusal(exit::CONFIG, message);
    let config = crate::sources::config_file(request.config.as_deref())
        .filter(|path| path.is_file())
        .ok_or_else(|| {
            config_refusal(
                "no config file: run `pincer onboard` first, or pass --config".to_owned(),
            )
        })?;
    let config = std::fs::canonicalize(&config)
        .map_err(|error| config_refusal(format!("cannot resolve {}: {error}", config.display())))?;
    let env_file = Sources::with_config(Some(config.clone())).own_env_file();
    let env_file = std::path::absolute(&env_file).unwrap_or(env_file);
    if crate::secrets::add_missing(&env_file).map_err(|error| io(&env_file, &error))? {
        println!("generated the internal secrets {} lacked", shown(&env_file));
    }
    let sources = Sources::with_config(Some(config.clone()));
    if let Err(error) = sources.load(pincer_config::Scope::All) {
        return Err(config_refusal(format!("invalid config: {error}")));
    }
    let layout = Layout::of(request.scope).map_err(config_refusal)?;
    let (bin_dir, multi_call) = bin_dir(request.bin_dir.as_deref())?;
    let nats_bin = nats_bin(request.nats_bin.as_deref(), &bin_dir)?;
    let run_as = match request.scope {
        Scope::System => Some(existing_user(&request.run_as)?),
        Scope::User => None,
    };
    let inputs = Inputs {
        scope: request.scope,
        bin_dir,
        multi_call,
        nats_bin,
        nats_port: request.nats_port,
        tool_host_env_file: tool_host_env_file(&sources, &env_file),
        tool_host_memory: tool_host_memory(&sources).map_err(config_refusal)?,
        config,
        run_as,
        layout,
    };
    let units = plan::unit_files(&inputs).map_err(config_refusal)?;
    let unit_dir = request
        .scope
        .unit_dir()
        .ok_or_else(|| config_refusal("HOME is not set: cannot place user units".to_owned()))?;

    make_state_dirs(&inputs)?;
    if !inputs.tool_host_env_file.exists() {
        write_file(&inputs.tool_host_env_file, "", 0o600)?;
        println!(
            "created {} (empty): the variables MCP servers reference go there",
            shown(&inputs.tool_host_env_file)
        );
    }
    // No password in it: it names the variables the passwords come in.
    let nats_config = inputs.layout.nats_config();
    let nats_mode = if request.scope == Scope::System {
        0o644
    } else {
        0o600
    };
    let permissions = pincer_bus::access::server_config(&pincer_bus::Namespace::default());
    write_file(&nats_config, &permissions, nats_mode)?;
    println!(
        "wrote {} (NATS's users and permissions)",
        shown(&nats_config)
    );
    for path in write_env_files(&inputs.layout, &sources)? {
        println!("wrote {} (0600)", shown(&path));
    }
    for unit in &units {
        let path = unit_dir.join(&unit.name);
        write_file(&path, &unit.text, 0o644)?;
        println!("wrote {}", shown(&path));
    }
    if request.no_enable {
        println!(
            "not enabled (--no-enable): systemctl {} daemon-reload && systemctl {} enable {TARGET}",
            request.scope.flag(),
            request.scope.flag()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for verb in [&["daemon-reload"][..], &["enable", TARGET][..]] {
        let mut command = request.scope.systemctl();
        command.args(verb);
        let code = control::run(command);
        if code != ExitCode::SUCCESS {
            eprintln!(
                "pincer: the units are written but `systemctl {} {}` failed (is systemd running for this {}?)",
                request.scope.flag(),
                verb.join(" "),
                if request.scope == Scope::User {
                    "user"
                } else {
                    "machine"
                }
            );
            return Ok(code);
        }
    }
    println!("enabled {TARGET}; next: pincer gateway start");
    if request.scope == Scope::User && !lingering() {
        println!(
            "note: your units stop when you log out; `loginctl enable-linger $USER` keeps them running (and starts them at boot)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes each service's share of `.env` into its env file (0600); the paths written.
pub fn write_env_files(layout: &Layout, sources: &Sources) -> Result<Vec<PathBuf>, Refusal> {
    create_private_dir(&layout.env_dir)?;
    let lookup = |name: &str| sources.lookup(name);
    let mut written = Vec::new();
    for process in Process::ALL {
        let path = layout.env_file(process);
        write_file(&path, &environment::env_file(process, &lookup), 0o600)?;
        written.push(path);
    }
    Ok(written)
}

/// Runs `pincer gateway uninstall`: stops and disables the target, removes the units and env
/// files; the config, `.env`, NATS's store and the workspaces stay.
pub fn uninstall(scope: Option<Scope>) -> ExitCode {
    let Some(scope) = scope.or_else(|| Installed::find().map(|installed| installed.scope)) else {
        println!("no Pincer units installed (neither --user nor --system)");
        return ExitCode::SUCCESS;
    };
    let Some(unit_dir) = scope.unit_dir() else {
        eprintln!("pincer: HOME is not set: cannot find user units");
        return ExitCode::from(exit::CONFIG);
    };
    let mut units: Vec<String> = Process::ALL.into_iter().map(Process::unit).collect();
    units.push(TARGET.to_owned());
    let reachable = control::manager_reachable(scope);
    if reachable {
        for verb in ["stop", "disable"] {
            let mut command = scope.systemctl();
            command.arg(verb).args(&units);
            let code = control::run(command);
            if code != ExitCode::SUCCESS {
                eprintln!(
                    "pincer: `systemctl {} {verb}` failed: nothing removed",
                    scope.flag()
                );
                return code;
            }
        }
    } else {
        println!(
            "no systemd manager answers `systemctl {}`: nothing of it runs, removing the files only",
            scope.flag()
        );
    }
    let mut code = ExitCode::SUCCESS;
    let mut remove = |path: PathBuf| match std::fs::remove_file(&path) {
        Ok(()) => println!("removed {}", shown(&path)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            eprintln!("pincer: cannot remove {}: {error}", path.display());
            code = ExitCode::from(exit::IO);
        }
    };
    for unit in &units {
        remove(unit_dir.join(unit));
    }
    let layout = Layout::of(scope).ok();
    if let Some(layout) = &layout {
        for process in Process::ALL {
            remove(layout.env_file(process));
        }
        let _ = std::fs::remove_dir(&layout.env_dir);
    }
    if reachable {
        let mut reload = scope.systemctl();
        reload.arg("daemon-reload");
        let reloaded = control::run(reload);
        if reloaded != ExitCode::SUCCESS {
            return reloaded;
        }
    }
    if let Some(layout) = layout {
        println!(
            "the data stays: {} (NATS), {} (workspaces), the config and its .env",
            shown(&layout.nats_store),
            shown(&layout.workspace)
        );
    }
    code
}

fn io(path: &Path, error: &std::io::Error) -> Refusal {
    let code = if error.kind() == std::io::ErrorKind::PermissionDenied {
        exit::NOPERM
    } else {
        exit::IO
    };
    Refusal(code, format!("cannot write {}: {error}", path.display()))
}

/// Writes `text` to `path` with `mode` by renaming a finished file over it, so systemd never
/// reads half a unit.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), Refusal> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| crate::secrets::write_private(&staging, text))
        .and_then(|()| std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&staging, path));
    written.map_err(|error| {
        let _ = std::fs::remove_file(&staging);
        io(path, &error)
    })
}

fn create_private_dir(dir: &Path) -> Result<(), Refusal> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|error| io(dir, &error))
}

/// A user's state directories are made here; systemd makes a system unit's (`StateDirectory=`),
/// owned by its user, but NATS's permission file needs `/var/lib/pincer` first.
fn make_state_dirs(inputs: &Inputs) -> Result<(), Refusal> {
    let layout = &inputs.layout;
    match inputs.scope {
        Scope::User => {
            for dir in [
                &layout.state_dir,
                &layout.nats_store,
                &layout.workspace,
                &layout.tool_state,
            ] {
                create_private_dir(dir)?;
            }
            Ok(())
        }
        Scope::System => std::fs::create_dir_all(&layout.state_dir)
            .map_err(|error| io(&layout.state_dir, &error)),
    }
}

/// `--bin-dir`, else the directory of this `pincer`; `pincer-services` or every service binary
/// must be there (true: `pincer-services` is).
fn bin_dir(explicit: Option<&Path>) -> Result<(PathBuf, bool), Refusal> {
    let dir = match explicit {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .ok_or_else(|| {
                Refusal(
                    exit::USAGE,
                    "cannot find pincer itself: pass --bin-dir".to_owned(),
                )
            })?,
    };
    let dir = std::fs::canonicalize(&dir)
        .map_err(|error| Refusal(exit::USAGE, format!("--bin-dir {}: {error}", dir.display())))?;
    if executable(&dir.join(crate::executables::MULTI_CALL)) {
        return Ok((dir, true));
    }
    let missing: Vec<String> = Process::ALL
        .into_iter()
        .filter(|process| *process != Process::Nats)
        .map(|process| format!("pincer-{}", process.name()))
        .filter(|name| !executable(&dir.join(name)))
        .collect();
    if !missing.is_empty() {
        return Err(Refusal(
            exit::USAGE,
            format!(
                "{} has no {}: build them (cargo build --release) and pass --bin-dir, or use scripts/install.sh",
                dir.display(),
                missing.join(", ")
            ),
        ));
    }
    Ok((dir, false))
}

/// `--nats-bin`, else `bin_dir/nats-server`, `$NATS_SERVER_BIN`, or `nats-server` on `PATH`.
fn nats_bin(explicit: Option<&Path>, bin_dir: &Path) -> Result<PathBuf, Refusal> {
    let on_path = || {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_absolute() && executable(candidate))
    };
    let found = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => Some(bin_dir.join("nats-server"))
            .filter(|p| executable(p))
            .or_else(|| crate::sources::process_value("NATS_SERVER_BIN").map(PathBuf::from))
            .or_else(on_path),
    };
    let refusal = || {
        Refusal(
            exit::UNAVAILABLE,
            "no nats-server: install one >= 2.10 (scripts/ensure-nats.sh) and pass --nats-bin"
                .to_owned(),
        )
    };
    let path = found.ok_or_else(refusal)?;
    if !executable(&path) {
        return Err(Refusal(
            exit::UNAVAILABLE,
            format!("{} is not an executable nats-server", path.display()),
        ));
    }
    std::fs::canonicalize(&path).map_err(|_| refusal())
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name`, when the machine knows that user; otherwise how to create it.
fn existing_user(name: &str) -> Result<String, Refusal> {
    let known = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .is_ok_and(|output| output.status.success());
    if known {
        return Ok(name.to_owned());
    }
    Err(Refusal(
        exit::CONFIG,
        format!(
            "no user {name:?} to run the services as: `useradd --system --home-dir /var/lib/pincer --shell /usr/sbin/nologin {name}` (scripts/install.sh --system does), or pass --run-as"
        ),
    ))
}

/// The tool host's env file: `PINCER_TOOL_HOST_ENV_FILE` (relative to the `.env`'s directory, as
/// compose takes it relative to the checkout), else `tool-host.env` beside the config.
fn tool_host_env_file(sources: &Sources, env_file: &Path) -> PathBuf {
    let base = env_file.parent().unwrap_or(Path::new("/"));
    match sources.lookup("PINCER_TOOL_HOST_ENV_FILE") {
        Some(path) => base.join(path),
        None => sources
            .config
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(base)
            .join("tool-host.env"),
    }
}

/// `PINCER_TOOL_HOST_MEM_LIMIT` (compose's `384m`) as systemd writes it (`384M`).
fn tool_host_memory(sources: &Sources) -> Result<String, String> {
    let Some(limit) = sources.lookup("PINCER_TOOL_HOST_MEM_LIMIT") else {
        return Ok("384M".to_owned());
    };
    memory_limit(&limit)
}

fn memory_limit(limit: &str) -> Result<String, String> {
    let trimmed = limit.trim();
    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &trimmed[digits.len()..];
    let unit = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => "",
        "k" | "kb" => "K",
        "m" | "mb" => "M",
        "g" | "gb" => "G",
        _ => "?",
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || unit == "?" {
        return Err(format!(
            "PINCER_TOOL_HOST_MEM_LIMIT={limit:?} is not a size like 384m or 1g"
        ));
    }
    Ok(format!("{digits}{unit}"))
}

/// Whether this user's manager outlives their sessions.
fn lingering() -> bool {
    crate::sources::process_value("USER")
        .is_some_and(|user| Path::new("/var/lib/systemd/linger").join(user).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_sizes_become_systemd_sizes() {
        assert_eq!(memory_limit("384m").unwrap(), "384M");
        assert_eq!(memory_limit("1g").unwrap(), "1G");
        assert_eq!(memory_limit("1048576").unwrap(), "1048576");
        assert!(memory_limit("lots").is_err());
        assert!(memory_limit("12q").is_err());
        assert!(memory_limit("m").is_err());
    }
}
