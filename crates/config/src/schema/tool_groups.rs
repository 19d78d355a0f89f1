//! The tool names `tools.allow` and `tools.deny` take besides exact names: OpenClaw's groups
//! (`group:fs`, `group:runtime` ...), its alias `bash` for `exec`, and `*` wildcards anywhere
//! (`*_search`, `github__*`). A group lists OpenClaw's tools and Pincer's own (`list`,
//! `memory_write`, `agents_list`), so a config written for either means the same here.

/// Each group and its tools.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "group:runtime",
        &["exec", "bash", "process", "code_execution"],
    ),
    (
        "group:fs",
        &["read", "write", "edit", "apply_patch", "list"],
    ),
    ("group:web", &["web_search", "x_search", "web_fetch"]),
    (
        "group:ui",
        &[
            "browser",
            "screen",
            "dashboard",
            "terminal",
            "canvas",
            "show_widget",
        ],
    ),
    (
        "group:sessions",
        &[
            "sessions_list",
            "sessions_history",
            "sessions_search",
            "sessions_send",
            "sessions_spawn",
            "sessions_yield",
            "subagents",
            "session_status",
            "agents_list",
        ],
    ),
    (
        "group:memory",
        &["memory_search", "memory_get", "memory_write"],
    ),
    ("group:messaging", &["message"]),
    (
        "group:automation",
        &["cron", "heartbeat_respond", "gateway"],
    ),
    ("group:nodes", &["nodes", "computer"]),
    (
        "group:media",
        &[
            "view_image",
            "image_generate",
            "music_generate",
            "video_generate",
            "tts",
        ],
    ),
];

/// Every built-in tool (MCP servers' tools are not in it).
const ALL_BUILT_IN: &str = "group:openclaw";

/// Whether `pattern` (a name, a group, an alias or a wildcard) names the tool `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim();
    if pattern == ALL_BUILT_IN {
        return GROUPS.iter().any(|(_, tools)| tools.contains(&name));
    }
    if let Some((_, tools)) = GROUPS.iter().find(|(group, _)| *group == pattern) {
        return tools.contains(&name);
    }
    wildcard(canonical(pattern), canonical(name))
}

/// `exec` for OpenClaw's alias `bash`.
fn canonical(tool: &str) -> &str {
    if tool == "bash" { "exec" } else { tool }
}

/// Whether `pattern` names a group, when it looks like one: `Err` with the known groups for a
/// `group:` name that is not one (a typo would match nothing and deny nothing).
pub fn check(pattern: &str) -> Result<(), String> {
    let pattern = pattern.trim();
    if !pattern.starts_with("group:")
        || pattern == ALL_BUILT_IN
        || GROUPS.iter().any(|(group, _)| *group == pattern)
    {
        return Ok(());
    }
    let known: Vec<&str> = GROUPS
        .iter()
        .map(|(group, _)| *group)
        .chain([ALL_BUILT_IN])
        .collect();
    Err(format!(
        "unknown tool group {pattern:?}; the groups are {}",
        known.join(", ")
    ))
}

/// `*` matches any run of characters (none included); everything else itself.
fn wildcard(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_aliases_and_wildcards_name_their_tools() {
        assert!(matches("group:runtime", "exec"));
        assert!(matches("group:fs", "list"));
        assert!(matches("group:web", "web_fetch"));
        assert!(matches("group:automation", "cron"));
        assert!(matches("group:memory", "memory_write"));
        assert!(!matches("group:fs", "exec"));
        assert!(matches("group:openclaw", "sessions_spawn"));
        assert!(!matches("group:openclaw", "github__list_repos"));
        assert!(matches("bash", "exec"));
        assert!(matches("exec", "bash"));
        assert!(matches("*", "anything"));
        assert!(matches("github__*", "github__list_repos"));
        assert!(matches("*_search", "memory_search"));
        assert!(matches("sessions_*y", "sessions_history"));
        assert!(matches("read", "read"));
        assert!(!matches("read", "reader"));
        assert!(!matches("*_search", "search_all"));
        assert!(!matches("a*a", "a"));
    }

    #[test]
    fn an_unknown_group_is_named_with_the_known_ones() {
        assert!(check("group:fs").is_ok());
        assert!(check("group:openclaw").is_ok());
        assert!(check("exec").is_ok());
        let error = check("group:filesystem").expect_err("unknown");
        assert!(error.contains("group:fs"), "{error}");
    }
}
