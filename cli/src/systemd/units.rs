//! The text of systemd unit files, from small structs: no IO, so every directive and every
//! escape can be tested.
//!
//! systemd expands `%` specifiers in nearly every value and `$VAR` in `ExecStart=`, splits
//! `ExecStart=` and `ReadWritePaths=` on whitespace, and takes `EnvironmentFile=` whole; each value
//! goes through the escape that fits where it lands, so a path with a space or a `%` stays one
//! path.

/// One `pincer-*.service`.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// `Description=`.
    pub description: String,
    /// The program (an absolute path) and its arguments.
    pub exec_start: Vec<String>,
    /// `Environment=` assignments: addresses, paths, never a secret (anyone may read a unit with
    /// `systemctl show`).
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=`s: the secrets, readable by their owner only.
    pub environment_files: Vec<EnvironmentFile>,
    /// Units started with this one and before it (`Requires=` and `After=`).
    pub requires: Vec<String>,
    /// Units started with this one when they can be, and before it (`Wants=` and `After=`).
    pub wants: Vec<String>,
    /// The target whose stop and restart this unit follows (`PartOf=`).
    pub part_of: String,
    /// The only places it may write, with `ProtectSystem=strict` (and `/tmp`, its own).
    pub read_write_paths: Vec<String>,
    /// `StateDirectory=` names under `/var/lib` that systemd creates for `user` (system units).
    pub state_directories: Vec<String>,
    /// `ProtectHome=`.
    pub protect_home: ProtectHome,
    /// `MemoryMax=`, e.g. `128M`.
    pub memory_max: String,
    /// `TasksMax=`: processes and threads.
    pub tasks_max: u32,
    /// `User=` and `Group=` (system units; a user unit runs as its user).
    pub user: Option<String>,
}

/// An `EnvironmentFile=`.
#[derive(Clone, Debug)]
pub struct EnvironmentFile {
    /// Its absolute path.
    pub path: String,
    /// Whether the unit starts without it (`-` prefix).
    pub optional: bool,
}

/// What `ProtectHome=` makes of `/home`, `/root` and `/run/user`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtectHome {
    /// Not there at all: nothing the unit needs lives in a home directory.
    #[default]
    Yes,
    /// Read-only: the config or the binaries live in a home directory.
    ReadOnly,
}

/// `pincer.target`: starts every service, and records the config they run with.
#[derive(Clone, Debug)]
pub struct Target {
    /// `Description=`.
    pub description: String,
    /// Every service unit.
    pub wants: Vec<String>,
    /// `WantedBy=` when enabled: `default.target` (user) or `multi-user.target` (system).
    pub wanted_by: String,
    /// The config file, read back by `pincer gateway start|stop|...` (`X-` keys are ignored by
    /// systemd).
    pub config: String,
}

/// The key under which the target records its config.
pub const CONFIG_KEY: &str = "X-Pincer-Config";

/// The text of a service unit.
#[must_use]
pub fn render_service(service: &Service) -> String {
    let mut text = String::from(HEADER);
    text.push_str("[Unit]\n");
    line(&mut text, "Description", &specifiers(&service.description));
    line(&mut text, "PartOf", &service.part_of);
    for unit in &service.requires {
        line(&mut text, "Requires", unit);
    }
    for unit in &service.wants {
        line(&mut text, "Wants", unit);
    }
    for unit in service.requires.iter().chain(&service.wants) {
        line(&mut text, "After", unit);
    }
    text.push_str("\n[Service]\nType=simple\n");
    let command: Vec<String> = service.exec_start.iter().map(|w| exec_word(w)).collect();
    line(&mut text, "ExecStart", &command.join(" "));
    for (name, value) in &service.environment {
        line(
            &mut text,
            "Environment",
            &environment_assignment(name, value),
        );
    }
    for file in &service.environment_files {
        let prefix = if file.optional { "-" } else { "" };
        line(
            &mut text,
            "EnvironmentFile",
            &format!("{prefix}{}", specifiers(&file.path)),
        );
    }
    if let Some(user) = &service.user {
        line(&mut text, "User", user);
        line(&mut text, "Group", user);
    }
    // A crash restarts the service; a clean stop (SIGTERM from `stop`) leaves it stopped.
    text.push_str("Restart=on-failure\nRestartSec=2s\n");
    // As compose's stop_grace_period: time to finish a turn's writes before SIGKILL.
    text.push_str("TimeoutStopSec=15s\n");
    text.push_str(
        "\n# Hardening: read-only system, nothing gained through setuid, a private /tmp.\n",
    );
    text.push_str("ProtectSystem=strict\n");
    let home = match service.protect_home {
        ProtectHome::Yes => "yes",
        ProtectHome::ReadOnly => "read-only",
    };
    line(&mut text, "ProtectHome", home);
    for name in &service.state_directories {
        line(&mut text, "StateDirectory", &specifiers(name));
    }
    if !service.read_write_paths.is_empty() {
        let paths: Vec<String> = service
            .read_write_paths
            .iter()
            .map(|p| quoted_word(p))
            .collect();
        line(&mut text, "ReadWritePaths", &paths.join(" "));
    }
    text.push_str("NoNewPrivileges=yes\nPrivateTmp=yes\nPrivateDevices=yes\n");
    text.push_str(
        "ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectControlGroups=yes\n",
    );
    text.push_str("RestrictSUIDSGID=yes\nLockPersonality=yes\nUMask=0077\n");
    line(&mut text, "MemoryMax", &service.memory_max);
    line(&mut text, "TasksMax", &service.tasks_max.to_string());
    text
}

/// The text of the target.
#[must_use]
pub fn render_target(target: &Target) -> String {
    let mut text = String::from(HEADER);
    text.push_str("[Unit]\n");
    line(&mut text, "Description", &specifiers(&target.description));
    for unit in &target.wants {
        line(&mut text, "Wants", unit);
    }
    line(&mut text, CONFIG_KEY, &target.config);
    text.push_str("\n[Install]\n");
    line(&mut text, "WantedBy", &target.wanted_by);
    text
}

/// The config a target's text records.
#[must_use]
pub fn target_config(text: &str) -> Option<String> {
    let prefix = format!("{CONFIG_KEY}=");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(str::to_owned)
}

const HEADER: &str = "# Written by `pincer gateway install`; `pincer gateway uninstall` removes it.\n# Edit the config or .env and run `pincer gateway install` again rather than this file.\n\n";

fn line(text: &mut String, key: &str, value: &str) {
    text.push_str(key);
    text.push('=');
    text.push_str(value);
    text.push('\n');
}

/// `%` written so systemd does not take it for a specifier.
#[must_use]
pub fn specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

/// One word of `ExecStart=`: quoted when it has a space, quote or backslash; `%` and `$`
/// doubled, so neither a specifier nor a variable is expanded.
#[must_use]
pub fn exec_word(word: &str) -> String {
    quoted_word(word).replace('$', "$$")
}

/// One word of a whitespace-separated list (`ReadWritePaths=`), quoted when it must be.
#[must_use]
pub fn quoted_word(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return specifiers(word);
    }
    format!("\"{}\"", specifiers(&backslashed(word)))
}

/// An `Environment=` assignment, always quoted.
#[must_use]
pub fn environment_assignment(name: &str, value: &str) -> String {
    format!(
        "\"{}\"",
        specifiers(&backslashed(&format!("{name}={value}")))
    )
}

fn backslashed(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests;
