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

/// Masks every secret in a config document.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if is_secret_key(key) || is_secret_map(key) {
                    mask_all(child);
                } else {
                    redact(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
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

/// Whether `value` contains the mask (a masked value sent back must not overwrite the secret).
pub fn contains_mask(value: &Value) -> bool {
    match value {
        Value::String(text) => text == MASK,
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
