//! The last steps: the gateway's token, the stack's own secrets and the deployment's variables,
//! then the edited config (a new one starts from a commented template), checked before anything is
//! written; then the workspace, and every file written at once.

use std::path::{Path, PathBuf};

use pincer_config::edit;
use serde_json::{Value, json};

use super::{Args, Files, Plan, Stop};
use crate::target::exit;

/// The config a first run starts from: every section it fills, commented.
const TEMPLATE: &str = include_str!("template.json5");

/// The top of a new `.env`.
const ENV_HEADER: &str =
    "# Pincer's settings and secrets, written by `pincer onboard` (keep it mode 600, out of git).
# Every pincer command and the services read it: the config refers to these as ${NAME}.
# PINCER_DEPLOY says how the stack runs (compose with PINCER_COMPOSE_DIR, or native).
";

/// Gateway on loopback with token auth; a token from `.env` is kept when it is strong enough, and
/// the stack's own secrets (bus passwords, service tokens) are generated once, then kept. For
/// compose, the variables `compose.yml` reads to find these files from any directory.
pub(super) fn gateway(args: &Args, files: &Files, plan: &mut Plan) {
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
    if let Some(port) = args.gateway_port {
        plan.env("PINCER_GATEWAY_PORT", &port.to_string());
    }
    if let Some(workspace) = &args.workspace {
        let workspace = std::path::absolute(workspace).unwrap_or_else(|_| workspace.clone());
        plan.env("PINCER_WORKSPACE", &workspace.display().to_string());
    }
    if plan.compose_dir.is_some() {
        compose_variables(files, plan);
    }
    if files.config.trim().is_empty() {
        // The template has the gateway section already.
        return;
    }
    let doc: Value = json5::from_str(&files.config).unwrap_or_default();
    if doc["gateway"]["bind"].is_null() {
        plan.set("gateway.bind", json!("loopback"));
    }
    plan.set("gateway.auth.mode", json!("token"));
    plan.set("gateway.auth.token", json!("${PINCER_GATEWAY_TOKEN}"));
}

/// What compose reads from `.env`: where the config and the tool host's env file are (absolute,
/// so the checkout can be anywhere), the project, the images' tag and the profiles.
fn compose_variables(files: &Files, plan: &mut Plan) {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    plan.env(
        "PINCER_CONFIG_FILE",
        &absolute(&files.config_path).display().to_string(),
    );
    // Outside the checkout, the tool host's env file lives beside the .env (in the checkout,
    // compose's default config/tool-host.env serves).
    let env_dir = absolute(&files.env_path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_checkout = plan.compose_dir.as_deref() == Some(env_dir.as_path());
    if files.existing("PINCER_TOOL_HOST_ENV_FILE").is_none() && !in_checkout {
        plan.env(
            "PINCER_TOOL_HOST_ENV_FILE",
            &env_dir.join("tool-host.env").display().to_string(),
        );
    }
    if files.existing("COMPOSE_PROJECT_NAME").is_none() {
        plan.env("COMPOSE_PROJECT_NAME", "pincer");
    }
    if files.existing("PINCER_TAG").is_none() {
        let tag = crate::sources::process_value("PINCER_TAG").unwrap_or_else(|| "local".to_owned());
        plan.env("PINCER_TAG", &tag);
    }
    // The demo's fake provider and the Ollama sidecar run only in their profiles.
    let ollama = plan
        .env_values
        .iter()
        .find(|(name, _)| name == "OLLAMA_BASE_URL")
        .map(|(_, url)| url.clone())
        .or_else(|| files.existing("OLLAMA_BASE_URL"))
        .unwrap_or_default();
    let profile = if ollama.contains("://fake-provider:") {
        "demo"
    } else if ollama.contains("://ollama:") {
        "ollama"
    } else {
        ""
    };
    plan.env("COMPOSE_PROFILES", profile);
}

/// Applies `plan` to the files' texts and checks the config they make, then creates the workspace
/// and writes the config, `.env` (mode 0600) and, for compose, an empty tool-host env file. A
/// config that would be invalid stops everything before the first write.
pub(super) fn write(files: &Files, plan: &Plan) -> Result<(), Stop> {
    let mut text = if files.config.trim().is_empty() {
        TEMPLATE.to_owned()
    } else {
        files.config.clone()
    };
    for (path, value) in &plan.sets {
        let steps = edit::parse_path(path)
            .map_err(|error| Stop::new(exit::USAGE, format!("cannot set {path}: {error}")))?;
        text = edit::set(&text, &steps, value)
            .map_err(|error| {
                Stop::new(
                    exit::DATA,
                    format!(
                        "cannot set {path} in {}: {error}",
                        files.config_path.display()
                    ),
                )
            })?
            .text;
    }
    let env_text = set_env_lines(
        if files.env.trim().is_empty() {
            ENV_HEADER
        } else {
            &files.env
        },
        &plan.env_values,
    );
    let lookup = |name: &str| {
        crate::sources::process_value(name)
            .or_else(|| crate::sources::env_value_in(&env_text, name))
    };
    let config = pincer_config::parse_str(
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
    if config.agents.defaults.model.is_none() {
        return Err(Stop::new(
            exit::CONFIG,
            "the config would have no primary model, nothing written",
        ));
    }
    pincer_workspace::Workspace::open(&files.workspace).map_err(|error| {
        Stop::new(
            exit::IO,
            format!(
                "cannot create the workspace {}: {error}; nothing written",
                files.workspace.display()
            ),
        )
    })?;
    // The config holds no secret, only ${VAR}s, and the containers (uid 65532) read it: 0644.
    // The .env holds the secrets: 0600.
    let mut writes = vec![
        (files.env_path.clone(), env_text.clone(), 0o600),
        (files.config_path.clone(), text, 0o644),
    ];
    if plan.compose_dir.is_some()
        && let Some(tool_env) = crate::sources::env_value_in(&env_text, "PINCER_TOOL_HOST_ENV_FILE")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute() && !path.exists())
    {
        writes.push((tool_env, String::new(), 0o600));
    }
    write_all(&writes).map_err(|error| Stop::new(exit::IO, format!("nothing written: {error}")))
}

/// Writes every file next to its place first (an existing file keeps its mode, a new one gets
/// the mode given), then renames them all into place: when a write fails, no file has changed.
fn write_all(files: &[(PathBuf, String, u32)]) -> Result<(), String> {
    let mut staged = Vec::new();
    let mut failure = None;
    for (path, text, new_mode) in files {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(error) = std::fs::create_dir_all(dir)
        {
            failure = Some(format!("cannot create {}: {error}", dir.display()));
            break;
        }
        let staging = path.with_file_name(format!(
            ".{}.onboard-{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let mode = std::fs::metadata(path).map_or(*new_mode, |m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o7777
        });
        if let Err(error) = crate::secrets::write_private(&staging, text).and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))
        }) {
            let _ = std::fs::remove_file(&staging);
            failure = Some(format!("cannot write {}: {error}", staging.display()));
            break;
        }
        staged.push((staging, path));
    }
    if failure.is_none() {
        for (staging, path) in &staged {
            if let Err(error) = std::fs::rename(staging, path) {
                failure = Some(format!("cannot write {}: {error}", path.display()));
                break;
            }
        }
    }
    match failure {
        Some(failure) => {
            for (staging, _) in &staged {
                let _ = std::fs::remove_file(staging);
            }
            Err(failure)
        }
        None => Ok(()),
    }
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
