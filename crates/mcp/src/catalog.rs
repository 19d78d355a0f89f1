//! A server's tools as the model sees them: `<server>__<tool>`, the description prefixed with the
//! server, `inputSchema` as parameters; only the ones the server's entry permits.

use pincer_config::McpServer;
use rmcp::model::Tool;

/// A tool as the model is offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDefinition {
    /// `<server>__<tool>`.
    pub name: String,
    /// `[<server>] <description>`.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters_json: String,
}

/// Between the server name and the tool name.
pub const SEPARATOR: &str = "__";

/// One offered tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exposed {
    /// `<server>__<tool>`, what the model calls.
    pub name: String,
    /// The server's own name for it.
    pub tool: String,
    /// The definition offered to the model.
    pub spec: ToolDefinition,
}

/// The longest function name OpenAI's API (and those that copy it) accepts: a longer one fails
/// the whole model call, every tool with it.
pub const MAX_NAME_CHARS: usize = 64;

/// Characters of the hash that keeps a shortened name apart from its neighbours (`_` and 8 hex).
const HASH_CHARS: usize = 9;

/// The model-facing name: the tool's characters outside `[A-Za-z0-9_-]` become `_` (providers
/// reject them), and a name over [`MAX_NAME_CHARS`] is cut to fit with a hash of the tool's own
/// name at the end, so two long names that start alike stay two tools.
pub fn exposed_name(server: &str, tool: &str) -> String {
    let cleaned: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let room = MAX_NAME_CHARS.saturating_sub(server.len() + SEPARATOR.len());
    if cleaned.len() <= room || room <= HASH_CHARS {
        // Fits, or the server's name alone leaves no room to shorten into.
        return format!("{server}{SEPARATOR}{cleaned}");
    }
    let kept = &cleaned[..room - HASH_CHARS];
    format!("{server}{SEPARATOR}{kept}_{:08x}", fnv1a(tool))
}

/// FNV-1a, 32 bits: stable across builds and platforms, unlike std's hasher.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The permitted tools of `server`, in listing order; a name that collides after cleaning is
/// dropped with a warning.
pub(crate) fn expose(server: &str, config: &McpServer, tools: &[Tool]) -> Vec<Exposed> {
    let mut out: Vec<Exposed> = Vec::new();
    for tool in tools.iter().filter(|tool| config.permits_tool(&tool.name)) {
        let name = exposed_name(server, &tool.name);
        if out.iter().any(|seen| seen.name == name) {
            tracing::warn!(server, tool = %tool.name, "mcp tool name collides with another after cleaning; not offered");
            continue;
        }
        let about = tool
            .description
            .as_deref()
            .or(tool.title.as_deref())
            .filter(|text| !text.trim().is_empty())
            .unwrap_or(&tool.name);
        out.push(Exposed {
            spec: ToolDefinition {
                name: name.clone(),
                description: format!("[{server}] {about}"),
                parameters_json: serde_json::Value::Object((*tool.input_schema).clone())
                    .to_string(),
            },
            name,
            tool: tool.name.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn tool(name: &str, description: &str) -> Tool {
        let schema = json!({"type": "object", "properties": {"x": {"type": "string"}}});
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema))
    }

    #[test]
    fn only_permitted_tools_namespaced_with_their_schema() {
        let config: McpServer =
            serde_json::from_value(json!({"command": "x", "allowTools": ["echo", "get.time"]}))
                .expect("config");
        let tools = [
            tool("echo", "Echoes."),
            tool("secret", "No."),
            tool("get.time", ""),
        ];
        let exposed = expose("srv", &config, &tools);
        let names: Vec<&str> = exposed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["srv__echo", "srv__get_time"]);
        assert_eq!(exposed[0].spec.description, "[srv] Echoes.");
        assert_eq!(exposed[1].spec.description, "[srv] get.time");
        assert_eq!(exposed[1].tool, "get.time");
        let schema: serde_json::Value =
            serde_json::from_str(&exposed[0].spec.parameters_json).expect("json");
        assert_eq!(schema["properties"]["x"]["type"], "string");
        let none = McpServer {
            command: Some("x".into()),
            ..McpServer::default()
        };
        assert!(expose("srv", &none, &tools).is_empty(), "deny by default");
    }

    #[test]
    fn long_names_are_cut_to_what_providers_accept_and_stay_apart() {
        let long_a = format!("{}_alpha", "x".repeat(70));
        let long_b = format!("{}_bravo", "x".repeat(70));
        let a = exposed_name("github", &long_a);
        let b = exposed_name("github", &long_b);
        assert_eq!(a.len(), MAX_NAME_CHARS, "{a}");
        assert!(a.starts_with("github__xxxx"), "{a}");
        assert_ne!(a, b);
        assert_eq!(
            a,
            exposed_name("github", &long_a),
            "the same name every time"
        );
        assert_eq!(exposed_name("fs", "read_file"), "fs__read_file");
        let exact = "y".repeat(MAX_NAME_CHARS - "fs__".len());
        assert_eq!(exposed_name("fs", &exact), format!("fs__{exact}"));
    }

    #[test]
    fn names_colliding_after_cleaning_are_dropped() {
        let config: McpServer =
            serde_json::from_value(json!({"command": "x", "allowTools": ["*"]})).expect("config");
        let exposed = expose("s", &config, &[tool("a.b", "1"), tool("a_b", "2")]);
        assert_eq!(exposed.len(), 1);
        assert_eq!(exposed[0].spec.description, "[s] 1");
    }
}
