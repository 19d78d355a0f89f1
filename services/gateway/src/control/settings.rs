//! `config.get` (secrets masked) and `config.patch` (an RFC 7396 merge patch, validated, written
//! atomically, hot-applied where that is safe).
//!
//! - Hot: `gateway.controlUi.allowedOrigins` / `allowInsecureAuth` and `gateway.auth.rateLimit`
//!   take effect at once.
//! - Refused: the listener and its auth (`gateway.auth` except `rateLimit`, `bind`, `port`,
//!   `customBindHost`, `trustedProxies`). A remote client must not be able to open the gateway
//!   up or lock its owner out; those are edited on the host.
//! - Guarded: the fields that decide where a secret goes or what runs (provider URLs and headers,
//!   bot API roots, search endpoints, MCP servers, exec and the tool policy, sandbox, workspaces,
//!   DM and group policies, hooks, bindings, and any new `${VAR}` reference). A client signed in
//!   with `gateway.auth.adminToken` may change them; anyone else only together with the secret
//!   they route, re-entered in the same patch (a provider's new `apiKey`, a bot's `botToken`, the
//!   search `apiKey`), so a stolen everyday token cannot send a stored key elsewhere.
//! - Everything else is written and reported in `restartRequired` with the services that read it.
//!
//! The patch applies to the file as written (`${VAR}` references stay references, comments and
//! layout are kept: `pincer_config::edit`), and must name the hash of the version it was based on,
//! so two editors cannot overwrite each other. The previous file is kept as `.bak`.

use std::path::Path;

use pincer_config::edit::{self, Step};
use pincer_config::redact::{MASK, contains_mask, redact};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Services;
use super::frame::{self, Code, ErrorShape};

fn hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn path_of(services: &Services) -> Result<&Path, ErrorShape> {
    services.config_path.as_deref().ok_or_else(|| {
        ErrorShape::new(
            Code::Unavailable,
            "this gateway was started without a config file",
        )
    })
}

fn read(path: &Path) -> Result<(String, Value), ErrorShape> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ErrorShape::new(
            Code::Unavailable,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let document: Value =
        json5::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text)).map_err(|e| {
            ErrorShape::new(
                Code::Internal,
                format!("{} is not valid JSON5: {e}", path.display()),
            )
        })?;
    Ok((text, document))
}

pub(super) fn get(services: &Services) -> Result<Value, ErrorShape> {
    let path = path_of(services)?;
    let (text, mut document) = read(path)?;
    redact(&mut document);
    Ok(
        json!({ "path": path.display().to_string(), "hash": hash(text.as_bytes()), "config": document }),
    )
}

/// RFC 7396: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Applies a merge patch to the file's text leaf by leaf (`null` removes), keeping comments.
fn apply_patch(text: &str, patch: &Value) -> Result<String, ErrorShape> {
    let mut leaves_with_values = Vec::new();
    collect(patch, &mut Vec::new(), &mut leaves_with_values);
    let mut text = text.to_owned();
    for (path, value) in leaves_with_values {
        let edited = if value.is_null() {
            match edit::unset(&text, &path) {
                Err(edit::EditError::Missing(_)) => continue,
                other => other,
            }
        } else {
            edit::set(&text, &path, &value)
        };
        let edited = edited.map_err(|e| ErrorShape::invalid(e.to_string()))?;
        if edited.rewritten {
            tracing::warn!("config.patch rewrote the file as JSON (its layout could not be kept)");
        }
        text = edited.text;
    }
    Ok(text)
}

fn collect(patch: &Value, prefix: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
    match patch {
        // An empty object merges nothing (and must never become "replace the document").
        Value::Object(map) if map.is_empty() => {}
        Value::Object(map) => {
            for (key, value) in map {
                prefix.push(Step::Key(key.clone()));
                collect(value, prefix, out);
                prefix.pop();
            }
        }
        other => out.push((prefix.clone(), other.clone())),
    }
}

/// Dotted paths of the leaves a patch touches (objects are walked, anything else is a leaf).
fn leaves(patch: &Value, prefix: &str, out: &mut Vec<String>) {
    match patch {
        Value::Object(map) if map.is_empty() => {}
        Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(value, &path, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Where a changed path takes effect.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Applied by the gateway at once.
    Hot,
    /// Written; these services read it at startup.
    Restart(&'static [&'static str]),
    /// Not changeable remotely.
    Refused(&'static str),
}

/// The effect of changing `path`.
pub fn effect(path: &str) -> Effect {
    const REFUSED: &str = "the gateway's listener and auth can only be changed in the file on the host (a remote client must not be able to open the gateway or lock its owner out)";
    const PROTECTED: [&str; 5] = [
        "gateway.auth",
        "gateway.bind",
        "gateway.port",
        "gateway.customBindHost",
        "gateway.trustedProxies",
    ];
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}."));
    if under("gateway.controlUi.allowedOrigins")
        || under("gateway.controlUi.allowInsecureAuth")
        || under("gateway.auth.rateLimit")
    {
        return Effect::Hot;
    }
    // A protected key itself, anything below it, or anything above it (replacing or deleting
    // `gateway` would change them too).
    if PROTECTED
        .iter()
        .any(|p| under(p) || path.is_empty() || p.starts_with(&format!("{path}.")))
    {
        return Effect::Refused(REFUSED);
    }
    let section = path.split('.').next().unwrap_or(path);
    Effect::Restart(match section {
        "gateway" | "hooks" => &["gateway"],
        "models" => &["llm-router", "agent-runner"],
        "agents" => &["agent-runner", "gateway", "llm-router"],
        "tools" | "mcp" | "skills" | "session" => &["agent-runner", "channel-bridge"],
        "channels" | "bindings" => &["channel-bridge", "gateway"],
        _ => &["gateway", "agent-runner", "llm-router", "channel-bridge"],
    })
}

/// What it takes to change a guarded field remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    /// The admin credential, or this secret (a dotted path) re-entered as a literal in the patch.
    Secret(String),
    /// The admin credential only.
    Admin(&'static str),
}

/// Whether changing `path` (to `value`) is guarded, and how.
pub fn guarded(path: &str, value: &Value) -> Option<Guarded> {
    let parts: Vec<&str> = path.split('.').collect();
    if value.as_str().is_some_and(|text| text.contains("${")) {
        return Some(Guarded::Admin(
            "a ${VAR} reference would send one of the environment's secrets wherever this field points",
        ));
    }
    let secret_beside = |field: &str| {
        let mut beside = parts[..parts.len() - 1].to_vec();
        beside.push(field);
        Guarded::Secret(beside.join("."))
    };
    match parts.as_slice() {
        ["models", "providers", _, field, ..]
            if matches!(*field, "baseUrl" | "headers" | "api" | "auth" | "request") =>
        {
            Some(Guarded::Secret(format!(
                "models.providers.{}.apiKey",
                parts[2]
            )))
        }
        ["channels", "telegram", .., field] if matches!(*field, "apiRoot" | "webhookUrl") => {
            Some(secret_beside("botToken"))
        }
        ["channels", "discord", .., "apiBaseUrl"] => Some(secret_beside("token")),
        ["channels", "slack", .., "apiBaseUrl"] => Some(secret_beside("botToken")),
        // Where the access token or the server password would be sent.
        ["channels", "whatsapp", .., "apiBaseUrl"] => Some(secret_beside("accessToken")),
        ["channels", "bluebubbles", .., "serverUrl"] => Some(secret_beside("password")),
        ["channels", "signal", .., field] if matches!(*field, "httpUrl" | "account") => Some(
            Guarded::Admin("the signal-cli daemon and number decide where messages go"),
        ),
        ["channels", "slack", .., field] if matches!(*field, "mode" | "webhookPath") => Some(
            Guarded::Admin("the Slack transport decides where events come from"),
        ),
        ["tools", "web", "search", "brave" | "searxng", ..] => {
            Some(Guarded::Secret("tools.web.search.apiKey".to_owned()))
        }
        ["mcp", ..] => Some(Guarded::Admin("MCP servers decide what runs")),
        ["tools", "exec" | "allow" | "deny", ..] | ["agents", "defaults", "sandbox", ..] => {
            Some(Guarded::Admin("the tool policy decides what runs"))
        }
        ["tools", "web", "fetch", "ssrfPolicy", ..] => Some(Guarded::Admin(
            "the fetch policy decides which networks are reachable",
        )),
        ["agents", .., "workspace"] | ["agents", "list", ..] => Some(Guarded::Admin(
            "a workspace decides what the file tools can reach",
        )),
        ["agents", "defaults", "memorySearch", ..] => Some(Guarded::Admin(
            "the memory search provider receives the text of every memory file",
        )),
        ["hooks", ..] | ["bindings", ..] => Some(Guarded::Admin(
            "hooks and bindings decide who reaches the agent",
        )),
        ["channels", _, ..]
            if parts.iter().skip(2).any(|part| {
                matches!(
                    *part,
                    "dmPolicy"
                        | "allowFrom"
                        | "groupPolicy"
                        | "groupAllowFrom"
                        | "groups"
                        | "guilds"
                        | "channels"
                        | "dm"
                        | "users"
                        | "roles"
                        | "allowBots"
                )
            }) =>
        {
            Some(Guarded::Admin(
                "DM and group policies decide who reaches the agent",
            ))
        }
        _ => None,
    }
}

/// The value of dotted `path` in a patch.
fn at<'a>(patch: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(patch, |value, key| value.get(key))
}

/// Guarded paths the patch changes that its author may not change: everything when signed in
/// with the admin token; otherwise those whose secret is not re-entered as a literal.
fn unmet_guards(patch: &Value, paths: &[String], admin: bool) -> Vec<Value> {
    if admin {
        return Vec::new();
    }
    paths
        .iter()
        .filter_map(|path| {
            let value = at(patch, path).unwrap_or(&Value::Null);
            match guarded(path, value)? {
                Guarded::Secret(secret) => {
                    let reentered = at(patch, &secret)
                        .and_then(Value::as_str)
                        .is_some_and(|text| !text.trim().is_empty() && !text.contains("${"));
                    (!reentered).then(|| json!({ "path": path, "needs": format!("the admin token, or {secret} re-entered in the same patch") }))
                }
                Guarded::Admin(why) => Some(json!({ "path": path, "needs": format!("the admin token: {why}") })),
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchParams {
    patch: Value,
    base_hash: String,
}

pub(super) async fn patch(
    services: &Services,
    conn: &super::conn::Conn,
    params: &Value,
) -> Result<Value, ErrorShape> {
    let params: PatchParams = frame::params(params)?;
    if !params.patch.is_object() {
        return Err(ErrorShape::invalid(
            "patch must be an object (a JSON merge patch)",
        ));
    }
    if contains_mask(&params.patch) {
        return Err(ErrorShape::invalid(format!(
            "the patch contains the mask {MASK:?}: send the real value, or leave the key out to keep it"
        )));
    }
    let mut paths = Vec::new();
    leaves(&params.patch, "", &mut paths);
    let refused: Vec<Value> = paths
        .iter()
        .filter_map(|p| match effect(p) {
            Effect::Refused(reason) => Some(json!({ "path": p, "reason": reason })),
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        return Err(ErrorShape {
            details: Some(json!({ "refused": refused })),
            ..ErrorShape::new(
                Code::Forbidden,
                format!("cannot change {} remotely", paths.join(", ")),
            )
        });
    }
    if paths.is_empty() {
        return Err(ErrorShape::invalid("the patch changes nothing"));
    }
    let unmet = unmet_guards(
        &params.patch,
        &paths,
        conn.credential == crate::auth::Credential::Admin,
    );
    if !unmet.is_empty() {
        return Err(ErrorShape {
            details: Some(json!({ "code": "GUARDED", "guarded": unmet })),
            ..ErrorShape::new(
                Code::Forbidden,
                "these fields decide where a secret goes or what runs: change them with gateway.auth.adminToken, with the secret they route re-entered in the same patch, or in the file on the host",
            )
        });
    }
    let path = path_of(services)?.to_owned();
    // One patch at a time: the hash check and the write must not interleave with another's.
    let _writing = services.config_lock.lock().await;
    let (text, mut document) = read(&path)?;
    let current = hash(text.as_bytes());
    if params.base_hash != current {
        return Err(ErrorShape {
            details: Some(json!({ "hash": current })),
            ..ErrorShape::new(
                Code::Conflict,
                "the config changed since it was read: get it again and reapply the patch",
            )
        });
    }
    let new_text = apply_patch(&text, &params.patch)?;
    merge_patch(&mut document, &params.patch);
    let reread: Option<Value> = json5::from_str(&new_text).ok();
    if reread.as_ref() != Some(&document) {
        return Err(ErrorShape::new(
            Code::Internal,
            "the edited file does not read back as the patched config; nothing was written",
        ));
    }
    // Validated exactly as the gateway will load it at its next start (unknown keys, types,
    // ranges, and its own checks: auth, hooks, body cap), so a patch cannot lock the owner out.
    let config = pincer_config::parse_str(
        &new_text,
        &path.display().to_string(),
        &pincer_config::process_env,
        pincer_config::Scope::Sections(&["gateway", "agents", "hooks"]),
    )
    .map_err(|e| ErrorShape::invalid(format!("the patched config is invalid: {e}")))?;
    crate::Config::from_file(&config, std::env::var("PINCER_GATEWAY_TOKEN").ok()).map_err(|e| {
        ErrorShape::invalid(format!(
            "the gateway would not start with the patched config: {e}"
        ))
    })?;
    write_atomically(&path, &text, &new_text)?;

    let mut applied = Vec::new();
    let mut restart = Vec::new();
    for p in &paths {
        match effect(p) {
            Effect::Hot => applied.push(p.clone()),
            Effect::Restart(services) => restart.push(json!({ "path": p, "services": services })),
            Effect::Refused(_) => {}
        }
    }
    if !applied.is_empty() {
        services.guard.reload(&config.gateway);
    }
    tracing::info!(applied = ?applied, restart = restart.len(), "config patched from the control plane");
    Ok(json!({
        "hash": hash(new_text.as_bytes()),
        "applied": applied,
        "restartRequired": restart,
    }))
}

/// Keeps the previous file as `.bak` and replaces the file by a rename; both get the file's own
/// permissions (a 0600 file of secrets stays 0600).
fn write_atomically(path: &Path, old: &str, new: &str) -> Result<(), ErrorShape> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let unwritable = |e: std::io::Error| {
        ErrorShape::new(
            Code::Unavailable,
            format!(
                "cannot write {} ({e}); is it mounted read-only?",
                path.display()
            ),
        )
    };
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o777);
    let write = |target: &Path, text: &str| -> std::io::Result<()> {
        let _ = std::fs::remove_file(target);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(target)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write(&path.with_extension("bak"), old).map_err(unwritable)?;
    let staging = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    write(&staging, new).map_err(unwritable)?;
    std::fs::rename(&staging, path).map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        unwritable(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_that_route_secrets_or_run_things_are_guarded() {
        let text = |s: &str| Value::String(s.to_owned());
        assert_eq!(
            guarded("models.providers.or.baseUrl", &text("https://evil.example")),
            Some(Guarded::Secret("models.providers.or.apiKey".into()))
        );
        assert_eq!(
            guarded(
                "channels.telegram.accounts.work.apiRoot",
                &text("https://x")
            ),
            Some(Guarded::Secret(
                "channels.telegram.accounts.work.botToken".into()
            ))
        );
        assert_eq!(
            guarded(
                "channels.whatsapp.accounts.shop.apiBaseUrl",
                &text("https://x")
            ),
            Some(Guarded::Secret(
                "channels.whatsapp.accounts.shop.accessToken".into()
            ))
        );
        assert_eq!(
            guarded("channels.bluebubbles.serverUrl", &text("https://x")),
            Some(Guarded::Secret("channels.bluebubbles.password".into()))
        );
        for path in [
            "channels.signal.httpUrl",
            "channels.whatsapp.groups",
            "mcp.servers.x.command",
            "tools.exec.allowlist",
            "agents.defaults.workspace",
            "agents.entries.a.workspace",
            "agents.defaults.memorySearch.provider",
            "agents.defaults.memorySearch",
            "channels.telegram.dmPolicy",
            "channels.telegram.accounts.w.allowFrom",
            "hooks.token",
        ] {
            assert!(
                matches!(guarded(path, &text("x")), Some(Guarded::Admin(_))),
                "{path}"
            );
        }
        assert!(matches!(
            guarded("agents.defaults.timeout", &text("${OPENROUTER_API_KEY}")),
            Some(Guarded::Admin(_))
        ));
        assert_eq!(guarded("agents.defaults.timeout", &json!(60)), None);
        assert_eq!(guarded("models.providers.or.models", &json!([])), None);
        let patch =
            json!({"models": {"providers": {"or": {"baseUrl": "https://x", "apiKey": "sk-new"}}}});
        let paths = vec![
            "models.providers.or.baseUrl".to_owned(),
            "models.providers.or.apiKey".to_owned(),
        ];
        assert!(unmet_guards(&patch, &paths, false).is_empty(), "re-entered");
        let reused = json!({"models": {"providers": {"or": {"baseUrl": "https://x", "apiKey": "${OPENROUTER_API_KEY}"}}}});
        assert!(
            !unmet_guards(&reused, &paths, false).is_empty(),
            "a reference is not a re-entry"
        );
        assert!(
            unmet_guards(&reused, &paths, true).is_empty(),
            "the admin may"
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({ "a": { "b": 1, "c": 2 }, "d": [1, 2] });
        merge_patch(&mut doc, &json!({ "a": { "b": null, "e": 3 }, "d": [3] }));
        assert_eq!(doc, json!({ "a": { "c": 2, "e": 3 }, "d": [3] }));
    }

    #[test]
    fn effects_by_path() {
        assert_eq!(effect("gateway.controlUi.allowedOrigins"), Effect::Hot);
        assert_eq!(effect("gateway.auth.rateLimit.maxAttempts"), Effect::Hot);
        assert!(matches!(effect("gateway.auth.token"), Effect::Refused(_)));
        assert!(matches!(effect("gateway.bind"), Effect::Refused(_)));
        assert!(matches!(
            effect("gateway.trustedProxies"),
            Effect::Refused(_)
        ));
        assert_eq!(
            effect("models.providers.x.baseUrl"),
            Effect::Restart(&["llm-router", "agent-runner"])
        );
        let mut paths = Vec::new();
        leaves(
            &json!({ "a": { "b": 1, "c": { "d": null } }, "e": [] }),
            "",
            &mut paths,
        );
        assert_eq!(paths, ["a.b", "a.c.d", "e"]);
    }
}
