//! The `.env` checks: it exists, is private, holds a strong gateway token and the internal
//! secrets compose needs; `--repair` fixes what is safe to fix.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Check, Context, State, check};
use crate::sources::shown;

/// The `.env` the checks read and repair: it exists, only its owner reads it, the gateway token
/// is strong, and (for compose) the internal secrets are there.
pub(super) fn env_file_checks(context: &Context, out: &mut Vec<Check>) {
    let path = &context.env_file;
    let Ok(meta) = std::fs::metadata(path) else {
        let mut found = check(
            ".env",
            State::Warn,
            format!("{} does not exist", shown(path)),
            "pincer onboard writes it (or pincer doctor --repair: a new gateway token)",
        );
        if context.repair {
            let example = context
                .compose_dir()
                .and_then(|dir| std::fs::read_to_string(dir.join(".env.example")).ok())
                .unwrap_or_else(|| "PINCER_GATEWAY_TOKEN=change-me\n".to_owned());
            let text: String = example
                .lines()
                .map(|line| {
                    if line.starts_with("PINCER_GATEWAY_TOKEN=") {
                        format!("PINCER_GATEWAY_TOKEN={}", crate::secrets::random_token())
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            if crate::config_cmd::write_atomically(path, &text).is_ok() {
                found.repaired = Some(format!(
                    "created {} (mode 600) with a new random gateway token",
                    shown(path)
                ));
            }
        }
        out.push(found);
        return;
    };
    let bits = meta.permissions().mode() & 0o777;
    if bits & 0o077 != 0 {
        let mut found = check(
            ".env permissions",
            State::Fail,
            format!(
                "{} is mode {bits:o}: other users can read its secrets",
                shown(path)
            ),
            format!("chmod 600 {}", shown(path)),
        );
        if context.repair
            && std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).is_ok()
        {
            found.repaired = Some(format!("chmod 600 {}", shown(path)));
        }
        out.push(found);
    } else {
        out.push(check(
            ".env permissions",
            State::Ok,
            format!("mode {bits:o}"),
            "",
        ));
    }
    match crate::sources::env_value(path, "PINCER_GATEWAY_TOKEN") {
        Some(token) if crate::audit::weakness(&token).is_none() => {
            out.push(check("gateway token", State::Ok, "set and strong", ""))
        }
        Some(token) => {
            let why = crate::audit::weakness(&token).unwrap_or_default();
            let mut found = check(
                "gateway token",
                State::Fail,
                format!("PINCER_GATEWAY_TOKEN is weak: {why}"),
                "set PINCER_GATEWAY_TOKEN in .env to `openssl rand -hex 32`, then restart the gateway",
            );
            if context.repair && token.to_ascii_lowercase().contains("change-me") {
                // Only the shipped placeholder is replaced: a token someone chose is theirs to change.
                if let Ok(text) = std::fs::read_to_string(path) {
                    let replaced = text.replace(
                        &format!("PINCER_GATEWAY_TOKEN={token}"),
                        &format!("PINCER_GATEWAY_TOKEN={}", crate::secrets::random_token()),
                    );
                    if crate::config_cmd::write_atomically(path, &replaced).is_ok() {
                        found.repaired = Some("replaced the placeholder PINCER_GATEWAY_TOKEN with a random one (restart the gateway)".to_owned());
                    }
                }
            }
            out.push(found);
        }
        None => out.push(check(
            "gateway token",
            State::Warn,
            "PINCER_GATEWAY_TOKEN is not in .env",
            "add PINCER_GATEWAY_TOKEN=$(openssl rand -hex 32)",
        )),
    }
    // `pincer dev` makes fresh internal secrets for every run; compose needs them in `.env`.
    if context.compose_dir().is_some() {
        internal_secrets_check(path, context.repair, out);
    }
}

/// The containers run as uid 65532: a config only its owner reads stops every service at start.
pub(super) fn config_readable_check(context: &Context, out: &mut Vec<Check>) {
    let Some(config) = context.sources.config.as_deref() else {
        return;
    };
    let Ok(meta) = std::fs::metadata(config) else {
        return;
    };
    let bits = meta.permissions().mode() & 0o777;
    if context.compose_dir().is_some() && bits & 0o004 == 0 {
        out.push(check(
            "config permissions",
            State::Fail,
            format!(
                "{} is mode {bits:o}: the containers (uid 65532) cannot read it",
                shown(config)
            ),
            format!(
                "chmod 644 {} (keep its secrets in .env as ${{VAR}}s)",
                shown(config)
            ),
        ));
    }
}

/// The bus passwords and service tokens compose needs: without them the stack does not start.
fn internal_secrets_check(path: &Path, repair: bool, out: &mut Vec<Check>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let missing = crate::secrets::missing_lines(&text);
    if missing.is_empty() {
        out.push(check(
            "internal secrets",
            State::Ok,
            "bus passwords and service tokens are set",
            "",
        ));
        return;
    }
    let names: Vec<&str> = missing
        .iter()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    let mut found = check(
        "internal secrets",
        State::Fail,
        format!(
            "{} lacks {}: compose refuses to start without them",
            path.display(),
            names.join(", ")
        ),
        "run scripts/ensure-secrets.sh (scripts/up.sh does), or pincer doctor --repair",
    );
    if repair {
        let mut text = text;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&missing.join("\n"));
        text.push('\n');
        if crate::config_cmd::write_atomically(path, &text).is_ok() {
            found.repaired = Some(format!(
                "generated {} (restart the stack)",
                names.join(", ")
            ));
        }
    }
    out.push(found);
}
