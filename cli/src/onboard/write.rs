//! The last steps: the gateway's token and the stack's own secrets, then the edited config
//! (checked before anything is written), `.env` (mode 0600) and the workspace.

use pincer_config::edit;
use serde_json::{Value, json};

use super::{Files, Plan, Stop};
use crate::target::exit;

/// Gateway on loopback with token auth; a token from `.env` is kept when it is strong enough, and
/// the stack's own secrets (bus passwords, service tokens) are generated once, then kept.
pub(super) fn gateway(files: &Files, plan: &mut Plan) {
    let token = files
        .existing("PINCER_GATEWAY_TOKEN")
        .filter(|t| crate::audit::weakness(t).is_none())
        .unwrap_or_else(crate::secrets::random_token);
    plan.env("PINCER_GATEWAY_TOKEN", &token);
    for name in crate::secrets::variables() {
        if files.existing(name).is_none() {
            plan.env(name, &crate::secrets::random_token());
        }
    }
    let doc: Value = json5::from_str(if files.config.trim().is_empty() {
        "{}"
    } else {
        &files.config
    })
    .unwrap_or_default();
    if doc["gateway"]["bind"].is_null() {
        plan.set("gateway.bind", json!("loopback"));
    }
    plan.set("gateway.auth.mode", json!("token"));
    plan.set("gateway.auth.token", json!("${PINCER_GATEWAY_TOKEN}"));
}

/// Applies `plan` to the files' texts, checks the config they make, and writes both files and the
/// workspace. Nothing is written when the config would be invalid.
pub(super) fn write(files: &Files, plan: &Plan) -> Result<(), Stop> {
    let mut text = files.config.clone();
    for (path, value) in &plan.sets {
        let steps = edit::parse_path(path)
            .map_err(|error| Stop::new(exit::USAGE, format!("cannot set {path}: {error}")))?;
        let base = if text.trim().is_empty() { "{}" } else { &text };
        text = edit::set(base, &steps, value)
            .map_err(|error| Stop::new(exit::DATA, format!("cannot set {path}: {error}")))?
            .text;
    }
    let env_text = set_env_lines(&files.env, &plan.env_values);
    let lookup = |name: &str| {
        crate::sources::env_value_in(&env_text, name).or_else(|| std::env::var(name).ok())
    };
    pincer_config::parse_str(
        &text,
        &files.config_path.display().to_string(),
        &lookup,
        pincer_config::Scope::All,
    )
    .map_err(|error| {
        Stop::new(
            exit::CONFIG,
            format!("the config would be invalid, nothing written: {error}"),
        )
    })?;
    crate::config_cmd::write_atomically(&files.env_path, &env_text)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&files.env_path, std::fs::Permissions::from_mode(0o600))
        })
        .and_then(|()| crate::config_cmd::write_atomically(&files.config_path, &text))
        .map_err(|error| Stop::new(exit::IO, format!("cannot write the files: {error}")))?;
    pincer_workspace::Workspace::open(&files.workspace).map_err(|error| {
        Stop::new(
            exit::IO,
            format!(
                "cannot create the workspace {}: {error}",
                files.workspace.display()
            ),
        )
    })?;
    Ok(())
}

/// Sets `KEY=value` lines in an env file's text (replacing existing ones, appending new ones).
pub fn set_env_lines(text: &str, values: &[(String, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (key, value) in values {
        let prefix = format!("{key}=");
        match lines.iter_mut().find(|l| {
            l.trim_start().starts_with(&prefix)
                || l.trim_start().starts_with(&format!("# {prefix}"))
        }) {
            Some(line) => *line = format!("{key}={value}"),
            None => lines.push(format!("{key}={value}")),
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_replaced_uncommented_or_appended() {
        let text = "# comment\nPINCER_GATEWAY_TOKEN=old\n# OPENROUTER_API_KEY=sk-or-...\n";
        let out = set_env_lines(
            text,
            &[
                ("PINCER_GATEWAY_TOKEN".into(), "new".into()),
                ("OPENROUTER_API_KEY".into(), "k".into()),
                ("X".into(), "1".into()),
            ],
        );
        assert_eq!(
            out,
            "# comment\nPINCER_GATEWAY_TOKEN=new\nOPENROUTER_API_KEY=k\nX=1\n"
        );
    }
}
