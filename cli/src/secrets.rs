//! The stack's internal secrets: each service's password on the bus and the tokens of the
//! llm-router and the tool host. Generated, never typed: `scripts/up.sh` (scripts/ensure-secrets.sh)
//! and `pincer onboard` add the missing ones to `.env` (mode 0600); `pincer dev` makes fresh ones
//! for every run.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use pincer_bus::access::Role;

/// The llm-router's token variable.
pub const ROUTER_TOKEN: &str = "PINCER_LLM_ROUTER_TOKEN";
/// The tool host's token variable.
pub const TOOL_HOST_TOKEN: &str = "PINCER_TOOL_HOST_TOKEN";

/// Every internal secret's variable, as `.env` holds them.
#[must_use]
pub fn variables() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Role::ALL.into_iter().map(Role::password_variable).collect();
    names.extend([ROUTER_TOKEN, TOOL_HOST_TOKEN]);
    names
}

/// 32 random bytes as 64 hex digits.
#[must_use]
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the kernel's random source (getrandom) is always available on Linux");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One run's internal secrets.
pub struct Internal {
    nats: Vec<(Role, String)>,
    /// `PINCER_LLM_ROUTER_TOKEN`.
    pub router_token: String,
    /// `PINCER_TOOL_HOST_TOKEN`.
    pub tool_host_token: String,
}

impl Internal {
    /// Fresh random secrets.
    #[must_use]
    pub fn generate() -> Self {
        Self {
            nats: Role::ALL
                .into_iter()
                .map(|role| (role, random_token()))
                .collect(),
            router_token: random_token(),
            tool_host_token: random_token(),
        }
    }

    /// What the NATS server's config refers to (`$PINCER_NATS_PASSWORD_<ROLE>`).
    #[must_use]
    pub fn nats_server_env(&self) -> Vec<(String, String)> {
        self.nats
            .iter()
            .map(|(role, password)| (role.password_variable().to_owned(), password.clone()))
            .collect()
    }

    /// What the service of `role` signs in to the bus with.
    #[must_use]
    pub fn nats_client_env(&self, role: Role) -> Vec<(&'static str, String)> {
        let password = self
            .nats
            .iter()
            .find(|(candidate, _)| *candidate == role)
            .map(|(_, password)| password.clone())
            .unwrap_or_default();
        vec![
            ("PINCER_NATS_USER", role.user().to_owned()),
            ("PINCER_NATS_PASSWORD", password),
        ]
    }
}

/// Writes `text` to `path` readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
}

/// Adds the internal secrets `env_file` lacks, creating it (mode 0600) when it does not exist;
/// whether any was added.
pub fn add_missing(env_file: &Path) -> std::io::Result<bool> {
    let text = match std::fs::read_to_string(env_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    let lines = missing_lines(&text);
    if lines.is_empty() {
        return Ok(false);
    }
    let mut text = text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&lines.join("\n"));
    text.push('\n');
    crate::config_cmd::write_atomically(env_file, &text)?;
    Ok(true)
}

/// The `NAME=value` lines of the internal secrets `text` (an env file) lacks, with new values.
#[must_use]
pub fn missing_lines(text: &str) -> Vec<String> {
    variables()
        .into_iter()
        .filter(|name| crate::sources::env_value_in(text, name).is_none())
        .map(|name| format!("{name}={}", random_token()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_secrets_are_added_and_present_ones_kept() {
        let text = "PINCER_TOOL_HOST_TOKEN=kept\nPINCER_NATS_PASSWORD_GATEWAY=\n";
        let lines = missing_lines(text);
        assert_eq!(lines.len(), variables().len() - 1, "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|line| !line.starts_with("PINCER_TOOL_HOST_TOKEN="))
        );
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("PINCER_NATS_PASSWORD_GATEWAY="))
        );
        assert!(
            lines
                .iter()
                .all(|line| line.split_once('=').is_some_and(|(_, v)| v.len() == 64))
        );
        let internal = Internal::generate();
        let env = internal.nats_client_env(Role::AgentRunner);
        assert_eq!(env[0].1, "agent-runner");
        assert_eq!(env[1].1.len(), 64);
    }

    #[test]
    fn the_shell_script_knows_the_same_secrets() {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-secrets.sh"),
        )
        .expect("scripts/ensure-secrets.sh");
        for name in variables() {
            assert!(script.contains(name), "ensure-secrets.sh lacks {name}");
        }
    }
}
