//! Signal: numbers registered in a signal-cli daemon run beside the stack
//! (`signal-cli daemon --http … --receive-mode=on-connection`), reached over its HTTP interface;
//! an adapter over [`crate::channel`].
//!
//! - [`rpc`]: JSON-RPC at `/api/v1/rpc` (`send`, `sendTyping`, `getAttachment`), the health
//!   check, typed errors; which chats are people and which are groups.
//! - [`sse`]: Server-Sent Events framing.
//! - [`events`]: one number's event stream at `/api/v1/events`, with a silence watchdog.
//! - [`envelope`]: a `receive` event as the channel core's message (ids, groups, mentions, quotes,
//!   attachments); what is not a message is skipped.
//! - [`account`]: one number: its lease, the stream kept open, messages handed on in order.
//! - [`outbound`]: Signal's way to send for the channel core (chunks, quotes, failures).
//! - [`typing`]: the typing indicator while a turn runs.

pub mod account;
pub mod envelope;
pub mod events;
pub mod outbound;
pub mod rpc;
pub mod sse;
pub mod typing;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::channel::Context;
use crate::channel::access::{Addressed, Rules, address};
use crate::channel::health::AccountHealth;

/// Largest attachment handed to the agent unless `mediaMaxMb` says otherwise.
const DEFAULT_MEDIA_MAX_MB: u32 = 20;

/// Checks an enabled `channels.signal` has what it needs: at least one number, each a number in
/// E.164 and on one account only, a daemon URL, and `dmPolicy: "open"` confirmed with
/// `allowFrom: ["*"]`.
pub fn validate(config: &pincer_config::Signal) -> Result<(), String> {
    let accounts = config.resolved_accounts();
    if accounts.is_empty() {
        return Err("channels.signal is enabled but has no account: set channels.signal.account to the number registered in signal-cli (+15551234567)".to_owned());
    }
    let mut numbers = HashSet::new();
    for (name, settings) in &accounts {
        let number = settings.account.as_deref().unwrap_or_default();
        if !is_e164(number) {
            return Err(format!(
                "channels.signal ({name}): account {number:?} is not a phone number in E.164 (+15551234567), as signal-cli registers it"
            ));
        }
        if !numbers.insert(address(number)) {
            return Err(format!(
                "channels.signal ({name}): number {number} is already another account's: each message would be answered twice"
            ));
        }
        let base = settings.http_base();
        match reqwest::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "channels.signal ({name}): httpUrl {base:?} is not an http(s) URL of signal-cli's daemon (e.g. http://127.0.0.1:8080)"
                ));
            }
        }
        crate::open_needs_star("signal", name, settings.dm_policy(), &settings.allow_from)
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// `+` and 7 to 15 digits (spaces, dashes, dots and brackets allowed, as people write them).
fn is_e164(number: &str) -> bool {
    let trimmed = number.trim();
    let canonical = address(trimmed);
    let digits = canonical.strip_prefix('+').unwrap_or_default();
    trimmed.starts_with('+')
        && (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// Runs every number of `config` until `shutdown`: one event stream per number, one sender for
/// all.
pub async fn run(context: Context, config: pincer_config::Signal, shutdown: CancellationToken) {
    let state = &context.stores.state;
    let mut senders = HashMap::new();
    let mut readers = Vec::new();
    for (name, settings) in config.resolved_accounts() {
        let Some(number) = settings.account.as_deref().map(address) else {
            continue;
        };
        let rpc = match rpc::Rpc::new(&settings.http_base(), &number) {
            Ok(rpc) => rpc,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the signal client");
                continue;
            }
        };
        let typing = typing::Indicator::new(rpc.clone());
        senders.insert(
            name.clone(),
            outbound::Account {
                rpc: rpc.clone(),
                typing: typing.clone(),
                chunk_limit: outbound::chunk_limit(settings.text_chunk_limit),
            },
        );
        let rules = Rules::addressed(&Addressed {
            dm: settings.dm_policy(),
            allow_from: &settings.allow_from,
            group_policy: settings.group_policy,
            group_allow_from: &settings.group_allow_from,
            groups: &settings.groups,
            mention_patterns: &settings.mention_patterns,
        });
        // Seen markers matter here: signal-cli delivers an envelope again after its own crash, at
        // any later time.
        let ingest = context.ingest(
            ("signal", "sg"),
            &name,
            rules,
            settings.media_max_mb.unwrap_or(DEFAULT_MEDIA_MAX_MB),
            account::Signal { rpc, typing },
        );
        let health = AccountHealth::new(state.clone(), "signal", &name);
        readers.push(tokio::spawn(account::run(
            ingest,
            state.clone(),
            context.holder(&name),
            health,
            shutdown.clone(),
        )));
    }
    // `send` is not idempotent and nothing lists what was sent: a claim is taken over (and its
    // chunk sent again) only once its sender is surely gone.
    context
        .send_until(
            "signal",
            senders,
            Duration::from_secs(120),
            readers,
            shutdown,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(json: serde_json::Value) -> pincer_config::Signal {
        serde_json::from_value(json).expect("signal config")
    }

    #[test]
    fn an_enabled_channel_needs_a_number_and_a_confirmed_open_policy() {
        let error = validate(&signal(serde_json::json!({}))).expect_err("no number");
        assert!(error.contains("no account"), "{error}");
        assert!(validate(&signal(serde_json::json!({"account": "+15550001111"}))).is_ok());
        assert!(
            validate(&signal(
                serde_json::json!({"account": "+1 (555) 000-1111", "dmPolicy": "allowlist"})
            ))
            .is_ok()
        );
        let open = validate(&signal(
            serde_json::json!({"account": "+15550001111", "dmPolicy": "open"}),
        ))
        .expect_err("open without *");
        assert!(open.contains("allowFrom"), "{open}");
        assert!(
            validate(&signal(
                serde_json::json!({"account": "+15550001111", "dmPolicy": "open", "allowFrom": ["*"]})
            ))
            .is_ok()
        );
        assert!(
            validate(&signal(
                serde_json::json!({"accounts": {"alt": {"account": "+15550002222"}}})
            ))
            .is_ok(),
            "a number under accounts is enough"
        );
        assert!(
            validate(&signal(serde_json::json!({"account": "+15550001111",
                "accounts": {"alt": {"account": "+15550002222", "dmPolicy": "open"}}})))
            .is_err(),
            "every account is checked"
        );
    }

    #[test]
    fn numbers_must_be_e164_distinct_and_the_url_a_url() {
        for bad in ["15550001111", "+1555", "hello", "+15550001111x", ""] {
            assert!(
                validate(&signal(serde_json::json!({"account": bad}))).is_err(),
                "{bad}"
            );
        }
        assert!(
            validate(&signal(serde_json::json!({"account": "+15550001111",
                "accounts": {"alt": {"account": "+1 555 000 1111"}}})))
            .is_err(),
            "the same number twice"
        );
        assert!(
            validate(&signal(
                serde_json::json!({"account": "+15550001111", "httpUrl": "signal-cli:8080"})
            ))
            .is_err()
        );
    }
}
