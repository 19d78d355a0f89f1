//! Masking secrets in a config document before it is shown (`pincer config get`, the gateway's
//! `config.get`, the Control UI). A `${VAR}` reference is not a secret and is shown as written.

use serde_json::Value;

/// Shown instead of a secret.
pub const MASK: &str = "••••";

/// Keys whose string values are secrets, wherever they appear.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("token")
        || key.contains("password")
        || key.contains("secret")
        || key == "apikey"
        || key == "apikeys"
        || key == "authorization"
}

/// Maps whose every value may be a secret (provider headers, MCP server environments).
fn is_secret_map(key: &str) -> bool {
    matches!(key, "headers" | "env")
}

/// Whether `text` is exactly one `${VAR}` reference.
pub fn is_reference(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("${") && text.ends_with('}') && text.matches("${").count() == 1
}

/// Whether the value at a config path (its object keys, outermost first) is or holds a secret: a
/// secret key anywhere on the path, or a `headers` / `env` map (every value of which may be one).
pub fn is_secret_path<'a>(keys: impl IntoIterator<Item = &'a str>) -> bool {
    keys.into_iter()
        .any(|k| is_secret_key(k) || is_secret_map(k))
}

/// Masks every secret in a config document: values of secret keys and maps, the password and
/// query of URLs anywhere (`postgres://user:pw@host`, `https://x/?key=...`), and command-line
/// arguments (`args`) that carry a secret (`--token=...`, the value after `--api-key`, or a long
/// random-looking word).
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if is_secret_key(key) || is_secret_map(key) {
                    mask_all(child);
                } else if key == "args" {
                    mask_arguments(child);
                } else {
                    redact(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => {
            if let Some(scrubbed) = scrub_url(text) {
                *text = scrubbed;
            }
        }
        _ => {}
    }
}

/// A URL with its password and query masked; `None` when there is nothing to mask.
fn scrub_url(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let (authority, path) = rest
        .find(['/', '?', '#'])
        .map_or((rest, ""), |at| rest.split_at(at));
    let mut changed = false;
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            changed = true;
            match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:{MASK}@{host}"),
                None => format!("{MASK}@{host}"),
            }
        }
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((before, _)) => {
            changed = true;
            format!("{before}?{MASK}")
        }
        None => path.to_owned(),
    };
    changed.then(|| format!("{scheme}://{authority}{path}"))
}

/// Whether a flag name (`--api-key`, `-token`) names a secret.
fn secret_flag(flag: &str) -> bool {
    let name = flag
        .trim_start_matches('-')
        .replace(['-', '_'], "")
        .to_ascii_lowercase();
    !name.is_empty()
        && (is_secret_key(&name) || name.ends_with("key") || name == "auth" || name == "pass")
}

/// Whether a bare argument looks like a credential: long, one word, letters and digits mixed,
/// not a path, package or URL.
fn looks_secret(arg: &str) -> bool {
    arg.len() >= 24
        && !arg.contains(['/', '.', ' ', '@', ':'])
        && arg.chars().any(|c| c.is_ascii_digit())
        && arg.chars().any(|c| c.is_ascii_alphabetic())
}

/// Masks the secrets among command-line arguments.
fn mask_arguments(args: &mut Value) {
    let Value::Array(items) = args else {
        redact(args);
        return;
    };
    let mut after_secret_flag = false;
    for item in items.iter_mut() {
        let Value::String(arg) = item else {
            continue;
        };
        if is_reference(arg) {
            after_secret_flag = false;
            continue;
        }
        let masked = if after_secret_flag {
            Some(MASK.to_owned())
        } else if let Some((flag, _)) = arg.split_once('=').filter(|(flag, _)| secret_flag(flag)) {
            Some(format!("{flag}={MASK}"))
        } else if looks_secret(arg) {
            Some(MASK.to_owned())
        } else {
            scrub_url(arg)
        };
        after_secret_flag = arg.starts_with('-') && !arg.contains('=') && secret_flag(arg);
        if let Some(masked) = masked {
            *arg = masked;
        }
    }
}

/// Masks every string in `value` (a secret subtree), keeping `${VAR}` references.
pub fn mask_all(value: &mut Value) {
    match value {
        Value::String(text) if !is_reference(text) => *text = MASK.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        Value::Object(map) => map.values_mut().for_each(mask_all),
        _ => {}
    }
}

/// Whether `value` contains the mask, alone or inside a string (a masked URL), so a masked value
/// sent back never overwrites the secret.
pub fn contains_mask(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(MASK),
        Value::Array(items) => items.iter().any(contains_mask),
        Value::Object(map) => map.values().any(contains_mask),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_and_references_kept() {
        let mut doc = json!({
            "gateway": { "auth": { "mode": "token", "token": "abc123" } },
            "models": { "providers": { "or": { "apiKey": "sk-live", "baseUrl": "https://x", "headers": { "X-Key": "k" } } } },
            "channels": { "telegram": { "botToken": "${TELEGRAM_BOT_TOKEN}", "webhookSecret": "s" } },
            "mcp": { "servers": { "gh": { "command": "x", "env": { "GITHUB_TOKEN": "ghp_1" } } } },
        });
        redact(&mut doc);
        assert_eq!(doc["gateway"]["auth"]["token"], MASK);
        assert_eq!(doc["gateway"]["auth"]["mode"], "token");
        assert_eq!(doc["models"]["providers"]["or"]["apiKey"], MASK);
        assert_eq!(doc["models"]["providers"]["or"]["baseUrl"], "https://x");
        assert_eq!(doc["models"]["providers"]["or"]["headers"]["X-Key"], MASK);
        assert_eq!(
            doc["channels"]["telegram"]["botToken"],
            "${TELEGRAM_BOT_TOKEN}"
        );
        assert_eq!(doc["channels"]["telegram"]["webhookSecret"], MASK);
        assert_eq!(doc["mcp"]["servers"]["gh"]["env"]["GITHUB_TOKEN"], MASK);
        assert!(!doc.to_string().contains("sk-live"));
        assert!(contains_mask(&doc));
    }

    #[test]
    fn urls_and_arguments_lose_their_secrets() {
        let mut doc = json!({
            "mcp": { "servers": {
                "db": { "command": "npx", "args": ["-y", "@mcp/postgres", "postgres://app:hunter2@db.example.org/app"] },
                "gh": { "command": "gh-mcp", "args": ["--token", "ghp_0123456789abcdefABCDEF0123", "--api-key=sk-live-1", "--verbose", "ghp_0123456789abcdefABCDEF0123456"] },
                "web": { "url": "https://mcp.example.org/mcp?key=sk-in-query", "args": [] },
            } },
            "models": { "providers": { "p": { "baseUrl": "https://user:pw@api.example.org/v1" } } },
        });
        redact(&mut doc);
        let text = doc.to_string();
        for secret in [
            "hunter2",
            "ghp_0123456789",
            "sk-live-1",
            "sk-in-query",
            ":pw@",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let db = &doc["mcp"]["servers"]["db"]["args"];
        assert_eq!(db[1], "@mcp/postgres");
        assert_eq!(db[2], format!("postgres://app:{MASK}@db.example.org/app"));
        let gh = &doc["mcp"]["servers"]["gh"]["args"];
        assert_eq!(gh[0], "--token");
        assert_eq!(gh[1], MASK);
        assert_eq!(gh[2], format!("--api-key={MASK}"));
        assert_eq!(gh[3], "--verbose");
        assert_eq!(
            doc["mcp"]["servers"]["web"]["url"],
            format!("https://mcp.example.org/mcp?{MASK}")
        );
        assert_eq!(
            doc["models"]["providers"]["p"]["baseUrl"],
            format!("https://user:{MASK}@api.example.org/v1")
        );
    }

    #[test]
    fn secret_paths() {
        let path = |p: &str| is_secret_path(p.split('.'));
        assert!(path("gateway.auth.token"));
        assert!(path("models.providers.or.apiKey"));
        assert!(path("models.providers.or.apiKeys"));
        assert!(path("mcp.servers.gh.env.GITHUB_TOKEN"));
        assert!(path("mcp.servers.gh.env"));
        assert!(path("models.providers.or.headers"));
        assert!(path("models.providers.or.headers.X-Key"));
        assert!(!path("gateway.port"));
        assert!(!path("models.providers.or.baseUrl"));
    }
}
