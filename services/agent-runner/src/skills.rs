//! Skills: `skills/<name>/SKILL.md` in the workspace, AgentSkills/OpenClaw format. The prompt lists
//! the eligible ones (name, description, path) and the model reads a skill's body with `read` when
//! it needs it, so a hundred installed skills cost a line each, not their whole text.
//!
//! Frontmatter keys used: `name`, `description`, and `metadata` (JSON5) whose `openclaw` (or
//! `pincer`, or legacy `clawdbot`) object gates the skill: `requires.bins` (all on PATH),
//! `requires.anyBins` (one on PATH), `requires.env` (all set), `os` (`linux`, `darwin`, `win32`).

use std::path::Path;

use serde::Deserialize;

/// Largest SKILL.md read for its frontmatter.
const MAX_SKILL_BYTES: u64 = 256 * 1024;
/// Skills listed in the prompt at most.
const MAX_LISTED: usize = 64;

/// An eligible skill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skill {
    /// Name (frontmatter `name`, else the directory name).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Path of its SKILL.md relative to the workspace.
    pub path: String,
}

/// A skill that was found but not listed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Directory name.
    pub dir: String,
    /// Why.
    pub reason: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Gate {
    #[serde(default)]
    requires: Requires,
    #[serde(default)]
    os: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Requires {
    #[serde(default)]
    bins: Vec<String>,
    #[serde(default)]
    any_bins: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
}

/// What the gate checks consult (injected so tests do not depend on the machine).
pub struct Environment<'a> {
    /// Whether a program is on PATH.
    pub has_bin: &'a dyn Fn(&str) -> bool,
    /// Whether an environment variable is set and non-empty.
    pub has_env: &'a dyn Fn(&str) -> bool,
    /// `linux`, `darwin` or `win32`.
    pub os: &'a str,
}

impl Environment<'static> {
    /// This process's PATH and environment.
    pub fn current() -> Self {
        Self {
            has_bin: &on_path,
            has_env: &|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()),
            os: match std::env::consts::OS {
                "macos" => "darwin",
                "windows" => "win32",
                other => other,
            },
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Scans `<root>/skills/*/SKILL.md`, sorted by directory name.
pub fn discover(root: &Path, env: &Environment<'_>) -> (Vec<Skill>, Vec<Skipped>) {
    let mut dirs: Vec<_> = pincer_workspace::beneath::list(root, Path::new("skills"))
        .into_iter()
        .flatten()
        .filter(|(_, kind)| *kind == pincer_workspace::beneath::EntryKind::Dir)
        .map(|(name, _)| name)
        .collect();
    dirs.sort();
    let mut skills = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        let relative = format!("skills/{dir}/SKILL.md");
        match load(root, Path::new(&relative), &dir, env) {
            Ok(Some((name, description))) if skills.len() < MAX_LISTED => skills.push(Skill {
                name,
                description,
                path: relative,
            }),
            Ok(Some(_)) => skipped.push(Skipped {
                dir,
                reason: format!("more than {MAX_LISTED} skills"),
            }),
            Ok(None) => {}
            Err(reason) => skipped.push(Skipped { dir, reason }),
        }
    }
    (skills, skipped)
}

/// `Ok(None)` when the directory has no SKILL.md (read beneath the root: no symlink out).
fn load(
    root: &Path,
    relative: &Path,
    dir: &str,
    env: &Environment<'_>,
) -> Result<Option<(String, String)>, String> {
    use std::io::Read as _;
    let file = match pincer_workspace::beneath::open_read(root, relative) {
        Ok(file) => file,
        Err(pincer_workspace::beneath::BeneathError::Io(error))
            if error.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(error) => return Err(format!("SKILL.md {error}")),
    };
    let mut text = String::new();
    file.take(MAX_SKILL_BYTES)
        .read_to_string(&mut text)
        .map_err(|error| format!("SKILL.md is not readable text: {error}"))?;
    let fields =
        frontmatter(&text).ok_or("SKILL.md has no frontmatter (--- name/description ---)")?;
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let name = get("name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| dir.to_owned());
    let description = get("description")
        .filter(|d| !d.is_empty())
        .ok_or("SKILL.md has no description")?;
    if let Some(metadata) = get("metadata") {
        let value: serde_json::Value = json5::from_str(&metadata)
            .map_err(|error| format!("metadata is not JSON5: {error}"))?;
        let gate = ["openclaw", "pincer", "clawdbot"]
            .iter()
            .find_map(|key| value.get(*key))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if !gate.is_null() {
            let gate: Gate =
                serde_json::from_value(gate).map_err(|error| format!("metadata gate: {error}"))?;
            check(&gate, env)?;
        }
    }
    Ok(Some((name, one_line(&description))))
}

fn check(gate: &Gate, env: &Environment<'_>) -> Result<(), String> {
    if !gate.os.is_empty() && !gate.os.iter().any(|os| os == env.os) {
        return Err(format!(
            "needs os {} (this is {})",
            gate.os.join("/"),
            env.os
        ));
    }
    if let Some(missing) = gate.requires.bins.iter().find(|bin| !(env.has_bin)(bin)) {
        return Err(format!("needs `{missing}` on PATH"));
    }
    if !gate.requires.any_bins.is_empty()
        && !gate.requires.any_bins.iter().any(|bin| (env.has_bin)(bin))
    {
        return Err(format!(
            "needs one of {} on PATH",
            gate.requires.any_bins.join(", ")
        ));
    }
    if let Some(missing) = gate.requires.env.iter().find(|var| !(env.has_env)(var)) {
        return Err(format!("needs the environment variable {missing}"));
    }
    Ok(())
}

/// `key: value` pairs between the leading `---` lines; a line that is not `key:` continues the
/// previous value (multi-line metadata objects).
fn frontmatter(text: &str) -> Option<Vec<(String, String)>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "---" {
        return None;
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.trim() == "---" {
            return Some(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, unquote(v.trim()).to_owned()))
                    .collect(),
            );
        }
        let key_value = line
            .split_once(':')
            .filter(|(key, _)| !line.starts_with([' ', '\t']) && is_key(key));
        match (key_value, fields.last_mut()) {
            (Some((key, value)), _) => {
                fields.push((key.trim().to_owned(), value.trim().to_owned()))
            }
            (None, Some((_, value))) => {
                value.push('\n');
                value.push_str(line);
            }
            (None, None) => {}
        }
    }
    None
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let cut: String = joined.chars().take(197).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(root: &Path, dir: &str, text: &str) {
        std::fs::create_dir_all(root.join("skills").join(dir)).expect("dir");
        std::fs::write(root.join("skills").join(dir).join("SKILL.md"), text).expect("write");
    }

    #[test]
    fn eligible_skills_are_listed_and_gated_ones_are_explained() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        skill(
            root,
            "weather",
            "---\nname: weather\ndescription: \"Get the forecast\"\nmetadata: {\"openclaw\": {\"requires\": {\"bins\": [\"curl\"]}}}\n---\nUse curl wttr.in\n",
        );
        skill(
            root,
            "gh",
            "---\nname: github\ndescription: Work with GitHub\nmetadata:\n  {\n    \"openclaw\": { \"requires\": { \"bins\": [\"gh\"], \"env\": [\"GH_TOKEN\"] } },\n  }\n---\n",
        );
        skill(
            root,
            "mac",
            "---\nname: notes\ndescription: Apple Notes\nmetadata: { openclaw: { os: [\"darwin\"] } }\n---\n",
        );
        skill(root, "broken", "no frontmatter here");
        std::fs::create_dir_all(root.join("skills/empty")).expect("dir");
        let has_bin = |bin: &str| bin == "curl" || bin == "gh";
        let has_env = |_: &str| false;
        let env = Environment {
            has_bin: &has_bin,
            has_env: &has_env,
            os: "linux",
        };
        let (skills, skipped) = discover(root, &env);
        assert_eq!(
            skills,
            vec![Skill {
                name: "weather".into(),
                description: "Get the forecast".into(),
                path: "skills/weather/SKILL.md".into()
            }]
        );
        let reasons: Vec<String> = skipped
            .iter()
            .map(|s| format!("{}: {}", s.dir, s.reason))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(
            reasons[0].starts_with("broken: SKILL.md has no frontmatter"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("GH_TOKEN"), "{reasons:?}");
        assert!(reasons[2].contains("darwin"), "{reasons:?}");
    }
}
