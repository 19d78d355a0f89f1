//! `agents`: defaults shared by every agent, named agents, and resolution of an agent id.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Serialize};

/// Iteration cap of an agent run when none is configured.
pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
/// Run timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// What a configured timeout of 0 ("no timeout") means.
pub const UNLIMITED_TIMEOUT: Duration = Duration::from_secs(48 * 60 * 60);
/// Concurrent runs when `agents.defaults.maxConcurrent` is unset.
pub const DEFAULT_MAX_CONCURRENT: u32 = 4;
/// Id of the default agent when no entry is marked `default: true`.
pub const MAIN_AGENT_ID: &str = "main";
/// Alias that always names the default agent.
pub const DEFAULT_AGENT_ALIAS: &str = "default";

/// `agents`. Named agents come as `entries` (a map by id) or OpenClaw's older `list` (an array of
/// entries with an `id`); both end up in [`Agents::entries`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", from = "AgentsFile")]
pub struct Agents {
    /// Settings every agent inherits.
    #[serde(default)]
    pub defaults: AgentDefaults,
    /// Named agents by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entries: BTreeMap<String, AgentEntry>,
}

/// `agents` as written in the file.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AgentsFile {
    #[serde(default)]
    defaults: AgentDefaults,
    #[serde(default)]
    entries: BTreeMap<String, AgentEntry>,
    #[serde(default)]
    list: Vec<ListedAgent>,
}

impl From<AgentsFile> for Agents {
    fn from(file: AgentsFile) -> Self {
        let mut entries = file.entries;
        for listed in file.list {
            // `entries` wins when both name the same id.
            entries.entry(listed.id).or_insert(listed.entry);
        }
        Self {
            defaults: file.defaults,
            entries,
        }
    }
}

/// One element of `agents.list`: an `id` plus the fields of an entry.
struct ListedAgent {
    id: String,
    entry: AgentEntry,
}

impl schemars::JsonSchema for ListedAgent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ListedAgent".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let entry = generator.subschema_for::<AgentEntry>();
        schemars::json_schema!({
            "description": "An agent of `agents.list`: its `id` and the fields of an `agents.entries` value.",
            "allOf": [entry, { "type": "object", "required": ["id"], "properties": { "id": { "type": "string", "minLength": 1 } } }]
        })
    }
}

impl<'de> Deserialize<'de> for ListedAgent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let id = match fields.remove("id") {
            Some(serde_json::Value::String(id)) if !id.trim().is_empty() => id,
            Some(_) => return Err(de::Error::custom("`id` must be a non-empty string")),
            None => return Err(de::Error::missing_field("id")),
        };
        let entry = AgentEntry::deserialize(serde_json::Value::Object(fields))
            .map_err(|error| de::Error::custom(format!("agent `{id}`: {error}")))?;
        Ok(Self { id, entry })
    }
}

/// `agents.defaults`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentDefaults {
    /// Primary model and fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSelection>,
    /// Cap on LLM/tool iterations per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// Run timeout in seconds (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Run timeout in seconds, OpenClaw's newer name (wins over `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Runs executing at once across all sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// How hard models think before answering, unless a session (`/think`) or a message says
    /// otherwise (default: the provider's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_default: Option<ThinkingLevel>,
    /// Agent workspace directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Context budget in tokens: the history is compacted to fit the smaller of this and the
    /// model's window (a cheaper prompt on a big-window model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
    /// Characters of one workspace file put in the prompt (default 20 000); the rest is cut
    /// with a visible marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_max_chars: Option<usize>,
    /// Characters of all workspace files together (default 60 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_total_max_chars: Option<usize>,
    /// OpenClaw's sandbox settings, as they apply to `exec` (which Pincer always confines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    /// A periodic turn in each agent's main session that reads `HEARTBEAT.md` (off unless
    /// `every` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
    /// Delegation to sub-agents (`sessions_spawn`): depth, children, concurrency, who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagents: Option<Subagents>,
    /// Where `memory_search` gets embeddings (`provider`, `model`); unset: full-text only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_search: Option<super::memory_search::MemorySearch>,
}

/// `agents.defaults.subagents` (OpenClaw's keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subagents {
    /// How deep children may spawn children (default 1: a child cannot spawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spawn_depth: Option<u32>,
    /// Children one run may spawn (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_children_per_agent: Option<u32>,
    /// Sub-agent turns running at once across all replicas, in their own lane (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Agents a run may delegate to besides its own (`["*"]`: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_agents: Vec<String>,
    /// The model children use unless the call names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How long a parent waits for a child's answer, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_seconds: Option<u64>,
}

impl Subagents {
    /// `maxSpawnDepth`.
    pub fn max_spawn_depth(&self) -> u32 {
        self.max_spawn_depth.unwrap_or(1)
    }

    /// `maxChildrenPerAgent`.
    pub fn max_children(&self) -> u32 {
        self.max_children_per_agent.unwrap_or(5)
    }

    /// `maxConcurrent`.
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent.unwrap_or(8)
    }

    /// `runTimeoutSeconds`.
    pub fn run_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.run_timeout_seconds.unwrap_or(300).max(1))
    }

    /// Whether a run of `own` may delegate to `target`.
    pub fn allows(&self, own: &str, target: &str) -> bool {
        own == target || self.allow_agents.iter().any(|a| a == "*" || a == target)
    }
}

/// `agents.defaults.heartbeat`: every `every`, within `activeHours`, each agent gets a turn in its
/// main session asking it to follow `HEARTBEAT.md`. An answer of `HEARTBEAT_OK` means nothing
/// needs attention and is not delivered; anything else goes to `target`/`to`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Heartbeat {
    /// How often, e.g. `"30m"` (`"0m"` or unset: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Only between these local times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_hours: Option<ActiveHours>,
    /// Where a non-OK answer goes: `none` (default) or a channel (`telegram`, `discord`, `slack`,
    /// `whatsapp`, `signal`, `bluebubbles`) with `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The chat on `target` (a Telegram chat id, a Slack channel id, a phone number...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The channel account that sends (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The instruction sent each time (default: read HEARTBEAT.md, answer HEARTBEAT_OK when
    /// nothing needs attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// `agents.defaults.heartbeat.activeHours`: `start` to `end` (`"HH:MM"`, `end` may be `"24:00"`)
/// in `timezone` (an IANA name such as `"Europe/Berlin"`; default UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActiveHours {
    /// First minute of the window, `"08:00"`.
    pub start: String,
    /// End of the window (exclusive), `"22:00"` or `"24:00"`.
    pub end: String,
    /// IANA time zone of `start` and `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Minutes since midnight of `"HH:MM"` (`"24:00"` is 1440).
pub fn minute_of_day(text: &str) -> Option<u32> {
    let (hours, minutes) = text.trim().split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u32 = hours.parse().ok()?;
    let minutes: u32 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= 24 * 60).then_some(total)
}

impl Heartbeat {
    /// How often; `None` when off.
    pub fn every(&self) -> Option<std::time::Duration> {
        self.every
            .as_deref()
            .and_then(|text| crate::parse_duration(text).ok())
            .filter(|every| !every.is_zero())
    }
}

/// `agents.defaults.sandbox`. OpenClaw runs tools in a Docker sandbox when `mode` asks for it;
/// Pincer confines every `exec` with the kernel's Landlock and seccomp instead, so `mode` can
/// only say what always holds, while `workspaceAccess` and `docker.network` shape the
/// confinement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sandbox {
    /// `all` or `non-main` (both: every command is confined). `off` is refused: Pincer never runs
    /// a command unconfined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SandboxMode>,
    /// What `exec` and the file tools may do with the agent's workspace: `rw` (default), `ro` or
    /// `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_access: Option<WorkspaceAccess>,
    /// `network`: `none` (no network for `exec`, the default) or any other value (HTTP and HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<SandboxDocker>,
}

/// `agents.defaults.sandbox.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Every session's commands are confined.
    All,
    /// OpenClaw's "not the main session": Pincer confines the main session's commands too.
    NonMain,
}

/// `agents.defaults.sandbox.workspaceAccess`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceAccess {
    /// Commands cannot see the workspace (they run in an empty directory).
    None,
    /// Commands may read it.
    Ro,
    /// Commands may read and write it.
    #[default]
    Rw,
}

/// `agents.defaults.sandbox.docker`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxDocker {
    /// `none`, or a network name (any other value allows HTTP and HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl Sandbox {
    /// What `exec` may do with the workspace.
    #[must_use]
    pub fn workspace_access(&self) -> WorkspaceAccess {
        self.workspace_access.unwrap_or_default()
    }

    /// Whether `docker.network` asks for a network (`None` when unset).
    #[must_use]
    pub fn network(&self) -> Option<bool> {
        self.docker
            .as_ref()
            .and_then(|docker| docker.network.as_deref())
            .map(|network| network != "none")
    }
}

impl AgentDefaults {
    /// `maxConcurrent`, default 4.
    #[must_use]
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT)
    }
}

/// `agents.entries.<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentEntry {
    /// This is the default agent (at most one entry).
    #[serde(default)]
    pub default: bool,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Workspace directory (overrides the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Model selection (overrides the default, fallbacks included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSelection>,
    /// Iteration cap (overrides the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// Timeout in seconds (overrides the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Timeout in seconds, newer name (wins over `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// A model choice: `"provider/model"` or `{ primary, fallbacks }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ModelSelection {
    /// Just a primary model ref.
    Ref(String),
    /// A primary model ref tried first, then each fallback in order.
    Chain {
        /// Model ref tried first.
        primary: String,
        /// Model refs tried in order when the primary fails.
        fallbacks: Vec<String>,
    },
}

impl ModelSelection {
    /// The primary model ref.
    #[must_use]
    pub fn primary(&self) -> &str {
        match self {
            ModelSelection::Ref(primary) | ModelSelection::Chain { primary, .. } => primary,
        }
    }

    /// The fallback model refs, in order.
    #[must_use]
    pub fn fallbacks(&self) -> &[String] {
        match self {
            ModelSelection::Ref(_) => &[],
            ModelSelection::Chain { fallbacks, .. } => fallbacks,
        }
    }
}

/// The object form of [`ModelSelection`], strictly checked.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ModelChain {
    primary: String,
    #[serde(default)]
    fallbacks: Vec<String>,
}

impl schemars::JsonSchema for ModelSelection {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ModelSelection".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let chain = generator.subschema_for::<ModelChain>();
        schemars::json_schema!({
            "description": "\"provider/model\", or { primary, fallbacks }",
            "anyOf": [{ "type": "string", "pattern": "^[^/]+/.+$" }, chain]
        })
    }
}

impl<'de> Deserialize<'de> for ModelSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectionVisitor;
        impl<'de> Visitor<'de> for SelectionVisitor {
            type Value = ModelSelection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a model ref \"provider/model\" or { primary, fallbacks }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelSelection, E> {
                Ok(ModelSelection::Ref(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ModelSelection, A::Error> {
                let chain = ModelChain::deserialize(MapAccessDeserializer::new(map))?;
                Ok(ModelSelection::Chain {
                    primary: chain.primary,
                    fallbacks: chain.fallbacks,
                })
            }
        }
        deserializer.deserialize_any(SelectionVisitor)
    }
}

/// `thinkingDefault`, `/think` and `chat.send`'s `thinking`: how hard a reasoning model thinks.
/// Each provider gets its own form (Anthropic a thinking budget, OpenAI a reasoning effort,
/// OpenRouter its `reasoning.effort`, Ollama `think`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThinkingLevel {
    /// No thinking.
    Off,
    /// The least.
    Minimal,
    /// Some.
    Low,
    /// More.
    Medium,
    /// Much.
    High,
    /// The most the model allows.
    Xhigh,
}

impl ThinkingLevel {
    /// Every level, weakest first.
    pub const ALL: [ThinkingLevel; 6] = [
        ThinkingLevel::Off,
        ThinkingLevel::Minimal,
        ThinkingLevel::Low,
        ThinkingLevel::Medium,
        ThinkingLevel::High,
        ThinkingLevel::Xhigh,
    ];

    /// Its name in the config and in `/think`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ThinkingLevel::Off => "off",
            ThinkingLevel::Minimal => "minimal",
            ThinkingLevel::Low => "low",
            ThinkingLevel::Medium => "medium",
            ThinkingLevel::High => "high",
            ThinkingLevel::Xhigh => "xhigh",
        }
    }

    /// The level named `name` (OpenClaw's spellings: `think`/`on` for low, `max` for xhigh).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "think" | "on" => Some(ThinkingLevel::Low),
            "max" | "highest" => Some(ThinkingLevel::Xhigh),
            "none" => Some(ThinkingLevel::Off),
            _ => Self::ALL.into_iter().find(|level| level.as_str() == name),
        }
    }
}

/// An agent id resolved against the config: everything a run needs, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAgent {
    /// The agent's real id (`main` or an `agents.entries` key; never the `default` alias).
    pub id: String,
    /// Primary model ref, `provider/model`.
    pub primary: String,
    /// Fallback model refs, in order.
    pub fallbacks: Vec<String>,
    /// Iteration cap (default 20).
    pub max_iterations: u32,
    /// Run timeout (default 600 s; a configured 0 means 48 h).
    pub timeout: Duration,
    /// Workspace directory, if configured.
    pub workspace: Option<String>,
    /// `thinkingDefault`, if configured.
    pub thinking: Option<ThinkingLevel>,
    /// `contextTokens`: a cap on the window the history may fill (below the model's own).
    pub context_tokens: Option<u32>,
}

/// Why an agent id could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No such agent.
    #[error("unknown agent `{id}` (valid: {})", valid.join(", "))]
    UnknownAgent {
        /// The id asked for.
        id: String,
        /// Ids that would resolve.
        valid: Vec<String>,
    },
    /// Neither the agent nor `agents.defaults` names a model.
    #[error("agent `{id}` has no model: set agents.defaults.model or agents.entries.{id}.model")]
    NoModel {
        /// The resolved agent id.
        id: String,
    },
}

impl Agents {
    /// The default agent's entry: the one with `default: true`, else the one keyed `main`.
    #[must_use]
    pub fn default_entry(&self) -> Option<(&str, &AgentEntry)> {
        self.entries
            .iter()
            .find(|(_, entry)| entry.default)
            .or_else(|| self.entries.get_key_value(MAIN_AGENT_ID))
            .map(|(id, entry)| (id.as_str(), entry))
    }

    /// The id of the default agent.
    #[must_use]
    pub fn default_id(&self) -> &str {
        self.default_entry().map_or(MAIN_AGENT_ID, |(id, _)| id)
    }

    /// Ids accepted by [`Agents::resolve`]: `default`, `main`, then every entry.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        let mut ids = vec![DEFAULT_AGENT_ALIAS.to_owned(), MAIN_AGENT_ID.to_owned()];
        ids.extend(
            self.entries
                .keys()
                .filter(|id| !ids.contains(id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        ids
    }

    /// Resolves `id` (`default`, `main` or an entry key), applying `agents.defaults`.
    ///
    /// `default` always names the default agent; `main` names the entry keyed `main` if there is
    /// one, else the default agent.
    pub fn resolve(&self, id: &str) -> Result<ResolvedAgent, AgentError> {
        let (agent_id, entry) = self.entry(id)?;
        let defaults = &self.defaults;
        let model = entry
            .and_then(|e| e.model.as_ref())
            .or(defaults.model.as_ref())
            .filter(|model| !model.primary().trim().is_empty())
            .ok_or_else(|| AgentError::NoModel {
                id: agent_id.clone(),
            })?;
        let timeout_secs = entry
            .and_then(|e| e.timeout_seconds.or(e.timeout))
            .or(defaults.timeout_seconds)
            .or(defaults.timeout);
        let timeout = match timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(0) => UNLIMITED_TIMEOUT,
            Some(secs) => Duration::from_secs(secs),
        };
        Ok(ResolvedAgent {
            primary: model.primary().to_owned(),
            fallbacks: model.fallbacks().to_vec(),
            max_iterations: entry
                .and_then(|e| e.max_iterations)
                .or(defaults.max_iterations)
                .unwrap_or(DEFAULT_MAX_ITERATIONS),
            timeout,
            workspace: self.configured_workspace(entry),
            thinking: defaults.thinking_default,
            context_tokens: defaults.context_tokens,
            id: agent_id,
        })
    }

    /// The id `id` stands for and its configured workspace (`None`: the default layout), without
    /// needing a model: what the tool host needs to find a workspace.
    pub fn workspace_setting(&self, id: &str) -> Result<(String, Option<String>), AgentError> {
        let (agent_id, entry) = self.entry(id)?;
        Ok((agent_id, self.configured_workspace(entry)))
    }

    fn configured_workspace(&self, entry: Option<&AgentEntry>) -> Option<String> {
        entry
            .and_then(|e| e.workspace.clone())
            .or_else(|| self.defaults.workspace.clone())
    }

    /// The id `id` stands for, and its entry if it has one.
    fn entry(&self, id: &str) -> Result<(String, Option<&AgentEntry>), AgentError> {
        match self.entries.get_key_value(id) {
            Some((key, entry)) if id != DEFAULT_AGENT_ALIAS => Ok((key.clone(), Some(entry))),
            _ if id == DEFAULT_AGENT_ALIAS || id == MAIN_AGENT_ID => {
                Ok(match self.default_entry() {
                    Some((key, entry)) => (key.to_owned(), Some(entry)),
                    None => (MAIN_AGENT_ID.to_owned(), None),
                })
            }
            _ => Err(AgentError::UnknownAgent {
                id: id.to_owned(),
                valid: self.ids(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(json: &str) -> Agents {
        serde_json::from_str(json).expect("valid agents")
    }

    #[test]
    fn agents_list_is_merged_into_entries() {
        let a = agents(
            r#"{"defaults": {"model": "a/b"},
                "list": [{"id": "work", "workspace": "/w", "model": "c/d"}, {"id": "home"}]}"#,
        );
        assert_eq!(a.resolve("work").expect("work").primary, "c/d");
        assert_eq!(a.resolve("home").expect("home").primary, "a/b");
        assert_eq!(
            a.resolve("work").expect("work").workspace.as_deref(),
            Some("/w")
        );
        let error = serde_json::from_str::<Agents>(r#"{"list": [{"id": "x", "modle": "a/b"}]}"#)
            .expect_err("typo");
        assert!(error.to_string().contains("modle"), "{error}");
        assert!(serde_json::from_str::<Agents>(r#"{"list": [{"workspace": "/w"}]}"#).is_err());
    }

    #[test]
    fn model_selection_string_or_object() {
        let s: ModelSelection = serde_json::from_str("\"openai/gpt-4o\"").expect("string");
        assert_eq!(s.primary(), "openai/gpt-4o");
        assert!(s.fallbacks().is_empty());
        let s: ModelSelection =
            serde_json::from_str(r#"{"primary": "a/b", "fallbacks": ["c/d", "e/f"]}"#)
                .expect("object");
        assert_eq!(s.primary(), "a/b");
        assert_eq!(s.fallbacks(), ["c/d", "e/f"]);
        let err = serde_json::from_str::<ModelSelection>(r#"{"primary": "a/b", "fallback": []}"#)
            .expect_err("unknown key");
        assert!(
            err.to_string().contains("unknown field `fallback`"),
            "{err}"
        );
        let err = serde_json::from_str::<ModelSelection>("42").expect_err("number");
        assert!(err.to_string().contains("provider/model"), "{err}");
    }

    #[test]
    fn model_selection_serializes_in_both_shapes() {
        let s = ModelSelection::Ref("a/b".into());
        assert_eq!(serde_json::to_string(&s).expect("ser"), "\"a/b\"");
        let s = ModelSelection::Chain {
            primary: "a/b".into(),
            fallbacks: vec!["c/d".into()],
        };
        assert_eq!(
            serde_json::to_string(&s).expect("ser"),
            r#"{"primary":"a/b","fallbacks":["c/d"]}"#
        );
    }

    #[test]
    fn default_alias_resolves_defaults_as_main() {
        let a = agents(
            r#"{"defaults": {"model": {"primary": "openrouter/x/y", "fallbacks": ["ollama/z"]}, "maxIterations": 15, "timeout": 120}}"#,
        );
        for alias in ["default", "main"] {
            let r = a.resolve(alias).expect("resolves");
            assert_eq!(r.id, "main");
            assert_eq!(r.primary, "openrouter/x/y");
            assert_eq!(r.fallbacks, ["ollama/z"]);
            assert_eq!(r.max_iterations, 15);
            assert_eq!(r.timeout, Duration::from_secs(120));
            assert_eq!(r.workspace, None);
        }
    }

    #[test]
    fn built_in_defaults_apply() {
        let r = agents(r#"{"defaults": {"model": "a/b"}}"#)
            .resolve("default")
            .expect("resolves");
        assert_eq!(r.max_iterations, 20);
        assert_eq!(r.timeout, Duration::from_secs(600));
        assert_eq!(Agents::default().defaults.max_concurrent(), 4);
    }

    #[test]
    fn default_alias_picks_the_default_entry() {
        let a = agents(
            r#"{"defaults": {"model": "a/b"}, "entries": {"coder": {"default": true, "model": "c/d"}, "other": {}}}"#,
        );
        let r = a.resolve("default").expect("resolves");
        assert_eq!(r.id, "coder");
        assert_eq!(r.primary, "c/d");
        assert_eq!(a.resolve("main").expect("resolves").id, "coder");
        assert_eq!(a.default_id(), "coder");
        let other = a.resolve("other").expect("resolves");
        assert_eq!(other.primary, "a/b");
    }

    #[test]
    fn entry_overrides_defaults() {
        let a = agents(
            r#"{
                "defaults": {"model": "a/b", "timeout": 90, "maxIterations": 10, "workspace": "/w"},
                "entries": {
                    "coder": {"timeoutSeconds": 30, "timeout": 999, "maxIterations": 3, "workspace": "/c",
                              "model": {"primary": "c/d", "fallbacks": ["e/f"]}},
                    "forever": {"timeout": 0}
                }
            }"#,
        );
        let r = a.resolve("coder").expect("resolves");
        assert_eq!(r.timeout, Duration::from_secs(30));
        assert_eq!(r.max_iterations, 3);
        assert_eq!(r.workspace.as_deref(), Some("/c"));
        assert_eq!(
            (r.primary.as_str(), r.fallbacks.as_slice()),
            ("c/d", &["e/f".to_owned()][..])
        );
        let r = a.resolve("forever").expect("resolves");
        assert_eq!(r.timeout, UNLIMITED_TIMEOUT);
        assert_eq!(r.max_iterations, 10);
        assert_eq!(r.workspace.as_deref(), Some("/w"));
    }

    #[test]
    fn defaults_timeout_seconds_wins_over_timeout() {
        let a = agents(r#"{"defaults": {"model": "a/b", "timeout": 90, "timeoutSeconds": 45}}"#);
        assert_eq!(
            a.resolve("default").expect("ok").timeout,
            Duration::from_secs(45)
        );
    }

    #[test]
    fn unknown_agent_lists_valid_ids() {
        let a = agents(r#"{"defaults": {"model": "a/b"}, "entries": {"coder": {}}}"#);
        let err = a.resolve("cdoer").expect_err("unknown");
        assert_eq!(
            err,
            AgentError::UnknownAgent {
                id: "cdoer".into(),
                valid: vec!["default".into(), "main".into(), "coder".into()],
            }
        );
        assert_eq!(
            err.to_string(),
            "unknown agent `cdoer` (valid: default, main, coder)"
        );
    }

    #[test]
    fn no_model_anywhere_is_an_error() {
        let err = Agents::default().resolve("default").expect_err("no model");
        assert_eq!(err, AgentError::NoModel { id: "main".into() });
        assert!(err.to_string().contains("agents.defaults.model"), "{err}");
    }
}
