//! Which `.env` variable reaches which service: the lists of `compose.yml`, so a secret reaches
//! only the service that uses it here too (a test compares them). Each service's share is
//! written to an env file of its own, mode 0600; system units' files belong to root, which reads
//! them before the service drops to its user, so one service cannot read another's.

use pincer_bus::access::Role;

use super::Process;

/// What every Pincer service but the tool host takes when set (compose's `x-common-env`).
const COMMON: &[&str] = &[
    "RUST_LOG",
    "LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PINCER_WORKER_THREADS",
];

/// The variables `process` takes from `.env` when they are set there: `(name the service reads,
/// name in .env)`; they differ only for a bus password (`PINCER_NATS_PASSWORD` is
/// `PINCER_NATS_PASSWORD_<ROLE>`).
#[must_use]
pub fn passed(process: Process) -> Vec<(&'static str, &'static str)> {
    let same = |names: &[&'static str]| names.iter().map(|n| (*n, *n)).collect::<Vec<_>>();
    let password = |role: Role| ("PINCER_NATS_PASSWORD", role.password_variable());
    match process {
        Process::Nats => Role::ALL
            .into_iter()
            .map(|role| (role.password_variable(), role.password_variable()))
            .collect(),
        Process::LlmRouter => [
            same(COMMON),
            vec![password(Role::LlmRouter)],
            same(&[
                "PINCER_LLM_ROUTER_TOKEN",
                "OLLAMA_BASE_URL",
                "OPENROUTER_API_KEY",
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
            ]),
        ]
        .concat(),
        Process::ToolHost => same(&[
            "RUST_LOG",
            "LOG_FORMAT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "PINCER_TOOL_HOST_TOKEN",
            "BRAVE_API_KEY",
            "SEARXNG_BASE_URL",
            "PINCER_CA_BUNDLE",
        ]),
        Process::AgentRunner => [
            same(COMMON),
            vec![password(Role::AgentRunner)],
            same(&[
                "PINCER_LLM_ROUTER_TOKEN",
                "PINCER_TOOL_HOST_TOKEN",
                "PINCER_AGENT_ACK_WAIT_SECS",
            ]),
        ]
        .concat(),
        Process::ChannelBridge => [
            same(COMMON),
            vec![password(Role::ChannelBridge)],
            same(&[
                "TELEGRAM_BOT_TOKEN",
                "TELEGRAM_WEBHOOK_SECRET",
                "DISCORD_BOT_TOKEN",
                "SLACK_BOT_TOKEN",
                "SLACK_APP_TOKEN",
                "WHATSAPP_ACCESS_TOKEN",
                "BLUEBUBBLES_PASSWORD",
            ]),
        ]
        .concat(),
        Process::Gateway => [
            same(COMMON),
            vec![password(Role::Gateway)],
            same(&[
                "PINCER_LLM_ROUTER_TOKEN",
                "TELEGRAM_WEBHOOK_SECRET",
                "SLACK_SIGNING_SECRET",
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN",
                "BLUEBUBBLES_PASSWORD",
                "PINCER_GATEWAY_TOKEN",
                // Natively the port the gateway listens on (in compose, only the published one).
                "PINCER_GATEWAY_PORT",
            ]),
        ]
        .concat(),
    }
}

/// The env file of `process`: each passed variable `lookup` finds, as the service reads it.
#[must_use]
pub fn env_file(process: Process, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut text = format!(
        "# {}'s share of .env, written by `pincer gateway install` (and `start`, `restart`).\n",
        process.unit()
    );
    for (name, source) in passed(process) {
        if let Some(value) = lookup(source) {
            text.push_str(&format!("{name}={}\n", quoted(&value)));
        }
    }
    text
}

/// A value in double quotes, with the characters systemd's env-file parser takes as escapes or
/// quotes (`\`, `"`, `` ` ``, `$`) escaped.
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "PINCER_NATS_PASSWORD_GATEWAY" => Some("gw-pass".to_owned()),
            "PINCER_NATS_PASSWORD_LLM_ROUTER" => Some("router-pass".to_owned()),
            "OPENAI_API_KEY" => Some(r#"sk-"$x\y"#.to_owned()),
            "TELEGRAM_BOT_TOKEN" => Some("123:abc".to_owned()),
            "PINCER_GATEWAY_TOKEN" => Some("gw-token".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn each_service_gets_only_its_own_secrets() {
        let gateway = env_file(Process::Gateway, &lookup);
        assert!(
            gateway.contains("PINCER_NATS_PASSWORD=\"gw-pass\"\n"),
            "{gateway}"
        );
        assert!(gateway.contains("PINCER_GATEWAY_TOKEN=\"gw-token\"\n"));
        for foreign in ["router-pass", "sk-", "123:abc"] {
            assert!(!gateway.contains(foreign), "{foreign} in {gateway}");
        }
        let router = env_file(Process::LlmRouter, &lookup);
        assert!(
            router.contains("PINCER_NATS_PASSWORD=\"router-pass\"\n"),
            "{router}"
        );
        assert!(
            router.contains(r#"OPENAI_API_KEY="sk-\"\$x\\y""#),
            "{router}"
        );
        assert!(!router.contains("gw-"), "{router}");
        let bridge = env_file(Process::ChannelBridge, &lookup);
        assert!(
            bridge.contains("TELEGRAM_BOT_TOKEN=\"123:abc\"\n"),
            "{bridge}"
        );
        assert!(
            !bridge.contains("gw-") && !bridge.contains("sk-"),
            "{bridge}"
        );
        let nats = env_file(Process::Nats, &lookup);
        assert!(
            nats.contains("PINCER_NATS_PASSWORD_GATEWAY=\"gw-pass\"\n"),
            "{nats}"
        );
        assert!(nats.contains("PINCER_NATS_PASSWORD_LLM_ROUTER=\"router-pass\"\n"));
        assert!(
            !nats.contains("gw-token") && !nats.contains("sk-"),
            "{nats}"
        );
        let tools = env_file(Process::ToolHost, &lookup);
        assert!(
            !tools.contains("pass") && !tools.contains("token"),
            "{tools}"
        );
    }
}
