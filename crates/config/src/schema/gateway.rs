//! `gateway`: the listener, its auth, the Control UI and the HTTP endpoints.

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::secret::Secret;

/// OpenClaw's default gateway port.
pub const DEFAULT_PORT: u16 = 18789;

/// `gateway`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Gateway {
    /// `local` (the only mode a gateway runs in; OpenClaw's `remote` describes a gateway on
    /// another machine and is refused with how to reach one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Listen port (default 18789; 0 is rejected).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Listen address policy (default loopback).
    #[serde(default)]
    pub bind: Bind,
    /// Host to bind when `bind` is `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_bind_host: Option<String>,
    /// Who may connect.
    #[serde(default)]
    pub auth: Auth,
    /// The browser Control UI.
    #[serde(default)]
    pub control_ui: ControlUi,
    /// HTTP endpoints and limits.
    #[serde(default)]
    pub http: GatewayHttp,
    /// Reverse proxies whose forwarding headers are trusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// OpenClaw's place for the Tailscale settings (the top-level `tailscale` is the other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tailscale: Option<crate::schema::Tailscale>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            mode: None,
            port: DEFAULT_PORT,
            bind: Bind::default(),
            custom_bind_host: None,
            auth: Auth::default(),
            control_ui: ControlUi::default(),
            http: GatewayHttp::default(),
            trusted_proxies: Vec::new(),
            tailscale: None,
        }
    }
}

/// `gateway.bind`: a named policy or a raw IP address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bind {
    /// `loopback` (or `localhost`): 127.0.0.1 only.
    #[default]
    Loopback,
    /// `lan`: all interfaces.
    Lan,
    /// `tailnet`: the Tailscale interface address.
    Tailnet,
    /// `custom`: `gateway.customBindHost`.
    Custom,
    /// `auto`: loopback, or the tailnet when Tailscale is on.
    Auto,
    /// A literal address such as `127.0.0.1`, `0.0.0.0` or `::1`.
    Address(IpAddr),
}

const BIND_EXPECTED: &str =
    "one of `loopback`, `lan`, `tailnet`, `custom`, `auto`, or an IP address";

impl Bind {
    /// Parses a `bind` value; `None` if it is neither a policy name nor an IP address.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "loopback" | "localhost" => Bind::Loopback,
            "lan" => Bind::Lan,
            "tailnet" => Bind::Tailnet,
            "custom" => Bind::Custom,
            "auto" => Bind::Auto,
            other => Bind::Address(other.parse().ok()?),
        })
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Loopback => f.write_str("loopback"),
            Bind::Lan => f.write_str("lan"),
            Bind::Tailnet => f.write_str("tailnet"),
            Bind::Custom => f.write_str("custom"),
            Bind::Auto => f.write_str("auto"),
            Bind::Address(ip) => write!(f, "{ip}"),
        }
    }
}

impl Serialize for Bind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Bind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": BIND_EXPECTED,
            "anyOf": [
                { "enum": ["loopback", "localhost", "lan", "tailnet", "custom", "auto"] },
                { "type": "string", "format": "ip" }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Bind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BindVisitor;
        impl Visitor<'_> for BindVisitor {
            type Value = Bind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(BIND_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bind, E> {
                Bind::parse(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(BindVisitor)
    }
}

/// `gateway.auth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    /// Auth mode; unset means inferred (token if only a token is set, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthMode>,
    /// Shared bearer token (minted by the gateway when mode is token and this is unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Shared password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A second, stronger credential for the control plane: signing in with it grants
    /// `operator.admin` and the right to change, remotely, the fields that decide where a secret
    /// goes or what runs (provider URLs, MCP servers, exec, DM policies). While it is set, the
    /// everyday token or password no longer grants `operator.admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Secret>,
    /// Failed-attempt limiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// `trusted-proxy` mode: which header names the user the proxy authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_proxy: Option<TrustedProxy>,
    /// Behind `tailscale serve`: a control-plane connection proxied by Tailscale signs in as the
    /// tailnet user it names, once `tailscale whois` confirms that user owns the connecting
    /// address (the HTTP API still needs the token).
    #[serde(default)]
    pub allow_tailscale: bool,
}

/// `gateway.auth.trustedProxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrustedProxy {
    /// Header carrying the authenticated user (default `x-forwarded-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_header: Option<String>,
    /// Users allowed in; empty = any user the proxy authenticated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_users: Vec<String>,
    /// A secret the proxy adds to every request (in `secretHeader`): without it, any process
    /// that can reach the gateway from a trusted address could claim any user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// The header carrying `secret` (default `x-pincer-proxy-secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_header: Option<String>,
}

/// `gateway.auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No authentication.
    None,
    /// Bearer token.
    Token,
    /// Password.
    Password,
    /// Identity asserted by a trusted reverse proxy.
    TrustedProxy,
}

/// `gateway.auth.rateLimit`: failed attempts per client address. Unset fields take the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Failures allowed per window (default 10).
    #[serde(default = "RateLimit::default_max_attempts")]
    pub max_attempts: u32,
    /// Window length in milliseconds (default 60 000).
    #[serde(default = "RateLimit::default_window_ms")]
    pub window_ms: u64,
    /// Lockout after exceeding the limit, in milliseconds (default 300 000).
    #[serde(default = "RateLimit::default_lockout_ms")]
    pub lockout_ms: u64,
    /// Do not limit loopback clients (default false: a local attacker is still an attacker).
    #[serde(default)]
    pub exempt_loopback: bool,
}

impl RateLimit {
    fn default_max_attempts() -> u32 {
        10
    }
    fn default_window_ms() -> u64 {
        60_000
    }
    fn default_lockout_ms() -> u64 {
        300_000
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            max_attempts: Self::default_max_attempts(),
            window_ms: Self::default_window_ms(),
            lockout_ms: Self::default_lockout_ms(),
            exempt_loopback: false,
        }
    }
}

/// `gateway.controlUi`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlUi {
    /// Serve the Control UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// URL prefix of the Control UI (e.g. `/pincer`): the page and its socket are served under
    /// it, and `/` no longer shows the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    /// Browser origins allowed to connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Allow auth over plain HTTP from non-loopback origins.
    #[serde(default)]
    pub allow_insecure_auth: bool,
    /// OpenClaw's switch for its device pairing, which Pincer does not have (browsers sign in
    /// with the shared secret alone): `false` is accepted, `true` is refused as a no-op.
    #[serde(default)]
    pub dangerously_disable_device_auth: bool,
}

/// `gateway.http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayHttp {
    /// Request body cap in bytes (Pincer extension; the gateway applies its default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Optional HTTP endpoints.
    #[serde(default)]
    pub endpoints: HttpEndpoints,
}

/// `gateway.http.endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpEndpoints {
    /// The OpenAI-compatible `/v1/chat/completions` endpoint.
    #[serde(default)]
    pub chat_completions: ChatCompletions,
}

/// `gateway.http.endpoints.chatCompletions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChatCompletions {
    /// Serve the endpoint (and `/v1/models`). Pincer's default is on (OpenClaw's is off): it is
    /// the API the CLI and the README use; `false` answers 404 there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(s: &str) -> Result<Bind, String> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| e.to_string())
    }

    #[test]
    fn bind_accepts_names_and_addresses() {
        assert_eq!(bind("loopback"), Ok(Bind::Loopback));
        assert_eq!(bind("localhost"), Ok(Bind::Loopback));
        assert_eq!(bind("lan"), Ok(Bind::Lan));
        assert_eq!(bind("tailnet"), Ok(Bind::Tailnet));
        assert_eq!(bind("custom"), Ok(Bind::Custom));
        assert_eq!(bind("auto"), Ok(Bind::Auto));
        assert_eq!(bind("127.0.0.1"), Ok(Bind::Address([127, 0, 0, 1].into())));
        assert_eq!(bind("0.0.0.0"), Ok(Bind::Address([0, 0, 0, 0].into())));
        assert_eq!(
            bind("::1"),
            Ok(Bind::Address(std::net::Ipv6Addr::LOCALHOST.into()))
        );
    }

    #[test]
    fn bind_rejects_others_listing_valid_values() {
        let err = bind("everywhere").expect_err("not a bind");
        for option in ["loopback", "lan", "tailnet", "custom", "auto", "IP address"] {
            assert!(err.contains(option), "{err}");
        }
    }

    #[test]
    fn bind_round_trips_through_display() {
        for b in [
            "loopback", "lan", "tailnet", "custom", "auto", "10.0.0.1", "::1",
        ] {
            assert_eq!(bind(b).expect("valid").to_string(), b);
        }
    }

    #[test]
    fn gateway_defaults() {
        let gateway: Gateway = serde_json::from_str("{}").expect("empty gateway");
        assert_eq!(gateway, Gateway::default());
        assert_eq!(gateway.port, 18789);
        assert_eq!(gateway.bind, Bind::Loopback);
    }

    #[test]
    fn auth_mode_names() {
        let mode: AuthMode = serde_json::from_str("\"trusted-proxy\"").expect("kebab");
        assert_eq!(mode, AuthMode::TrustedProxy);
    }
}
