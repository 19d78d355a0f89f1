//! The account-bound methods: `send`, `sendTyping`, `getAttachment`, with the checks signal-cli
//! makes (recipients or a group needed; numbers, ACIs, `PNI:` and `u:` recipients; a group id is
//! base64 of 16 or 32 bytes and one of the account's groups; no empty message; a quote needs its
//! author) and its answers: `{"timestamp", "results": [{"recipientAddress", "type", …}]}`, a
//! failure as an error whose data carries that answer. Params take one value or a list, under
//! the singular or the plural name, as signal-cli's JSON-RPC namespace reads them.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::knobs::Fault;
use crate::records::{AttachmentDownload, SentMessage, TypingCall};
use crate::rpc::{INTERNAL_ERROR, RATE_LIMIT_ERROR, RpcError, USER_ERROR};
use crate::state::{Inner, is_number};

/// Who a call is for: people, or one group.
struct Targets {
    recipients: Vec<String>,
    group: Option<String>,
}

/// `send`.
pub fn send(
    inner: &mut Inner,
    number: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let targets = targets(inner, number, params)?;
    let message = optional_string(params, "message")?.unwrap_or_default();
    let attachments = strings(params, "attachment")?;
    let quote = match optional_u64(params, "quoteTimestamp")? {
        Some(timestamp) => {
            let author = optional_string(params, "quoteAuthor")?
                .ok_or_else(|| RpcError::user("Quote author parameter is missing"))?;
            Some((timestamp, author))
        }
        None => None,
    };
    if message.is_empty() && attachments.is_empty() && quote.is_none() {
        return Err(RpcError::user(
            "Sending empty message is not allowed, either a message, attachment or sticker must be given.",
        ));
    }
    let timestamp = inner.timestamp();
    let results = results(inner, number, &targets, |_| json!({ "type": "SUCCESS" }));
    let unregistered: Vec<&String> = {
        let account = &inner.accounts[number];
        targets
            .recipients
            .iter()
            .filter(|r| account.unregistered.contains(*r))
            .collect()
    };
    if !unregistered.is_empty() && unregistered.len() == targets.recipients.len() {
        let results = results_with(&targets, |_| json!({ "type": "UNREGISTERED_FAILURE" }));
        return Err(failed_send(USER_FAILED, timestamp, results, USER_ERROR));
    }
    if let Some(account) = inner.accounts.get_mut(number) {
        account.sent.push(SentMessage {
            account: number.to_owned(),
            recipients: targets.recipients.clone(),
            group_id: targets.group.clone(),
            text: message,
            timestamp,
            quote,
            attachments,
        });
    }
    Ok(json!({ "timestamp": timestamp, "results": results }))
}

/// `sendTyping`.
pub fn send_typing(
    inner: &mut Inner,
    number: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let targets = targets(inner, number, params)?;
    let stop = match params.get("stop") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stop)) => *stop,
        Some(_) => return Err(RpcError::params("stop must be a boolean")),
    };
    let timestamp = inner.timestamp();
    let results = results(inner, number, &targets, |_| json!({ "type": "SUCCESS" }));
    if let Some(account) = inner.accounts.get_mut(number) {
        account.typing.push(TypingCall {
            account: number.to_owned(),
            recipients: targets.recipients,
            group_id: targets.group,
            stop,
        });
    }
    Ok(json!({ "timestamp": timestamp, "results": results }))
}

/// `getAttachment`: `{"data": <base64>}`.
pub fn get_attachment(
    inner: &mut Inner,
    number: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let id = optional_string(params, "id")?
        .ok_or_else(|| RpcError::user("Missing attachment id parameter"))?;
    let data = inner.accounts[number].attachments.get(&id).cloned();
    inner.downloads.push(AttachmentDownload {
        account: number.to_owned(),
        id: id.clone(),
        found: data.is_some(),
    });
    let data =
        data.ok_or_else(|| RpcError::user(format!("Could not find attachment with ID: {id}")))?;
    Ok(json!({ "data": base64::engine::general_purpose::STANDARD.encode(data) }))
}

const USER_FAILED: &str = "Failed to send message";

/// A forced failure of a call with these params (checked like a real call first).
pub fn failed(
    inner: &mut Inner,
    number: &str,
    params: &Map<String, Value>,
    fault: Fault,
) -> Result<RpcError, RpcError> {
    let targets = targets(inner, number, params)?;
    let timestamp = inner.timestamp();
    Ok(match fault {
        Fault::RateLimit { retry_after_secs } => failed_send(
            "Failed to send message due to rate limiting",
            timestamp,
            results_with(
                &targets,
                |_| json!({ "type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": retry_after_secs }),
            ),
            RATE_LIMIT_ERROR,
        ),
        Fault::NetworkFailure => failed_send(
            USER_FAILED,
            timestamp,
            results_with(&targets, |_| json!({ "type": "NETWORK_FAILURE" })),
            USER_ERROR,
        ),
        Fault::Internal | Fault::Http(_) => RpcError::new(
            INTERNAL_ERROR,
            "Failed to send message: Connection reset (IOException) (UnexpectedErrorException)",
        ),
    })
}

fn failed_send(message: &str, timestamp: u64, results: Vec<Value>, code: i64) -> RpcError {
    RpcError {
        code,
        message: message.to_owned(),
        data: Some(json!({ "response": { "timestamp": timestamp, "results": results } })),
    }
}

/// One result per recipient (a group's members, for a group), `outcome` adding its type.
fn results(
    inner: &Inner,
    number: &str,
    targets: &Targets,
    outcome: impl Fn(&Value) -> Value,
) -> Vec<Value> {
    let Some(group) = &targets.group else {
        return results_with(targets, outcome);
    };
    let members = inner.accounts[number]
        .groups
        .get(group)
        .map(|g| g.members.clone())
        .unwrap_or_default();
    members
        .iter()
        .map(|member| {
            let address = member.address();
            let mut result = json!({ "recipientAddress": address, "groupId": group });
            merge(&mut result, outcome(&address));
            result
        })
        .collect()
}

fn results_with(targets: &Targets, outcome: impl Fn(&Value) -> Value) -> Vec<Value> {
    targets
        .recipients
        .iter()
        .map(|recipient| {
            let address = if is_number(recipient) {
                json!({ "uuid": null, "number": recipient })
            } else {
                json!({ "uuid": recipient.strip_prefix("PNI:").unwrap_or(recipient), "number": null })
            };
            let mut result = json!({ "recipientAddress": address });
            if let Some(group) = &targets.group {
                result["groupId"] = json!(group);
            }
            merge(&mut result, outcome(&address));
            result
        })
        .collect()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn targets(inner: &Inner, number: &str, params: &Map<String, Value>) -> Result<Targets, RpcError> {
    let recipients = strings(params, "recipient")?;
    for recipient in &recipients {
        if !is_recipient(recipient) {
            return Err(RpcError::user(format!(
                "Invalid phone number '{recipient}': not a valid number"
            )));
        }
    }
    let groups = strings(params, "groupId")?;
    if groups.len() > 1 {
        return Err(RpcError::user(
            "Sending to several groups at once is not modelled",
        ));
    }
    let group = groups.into_iter().next();
    if let Some(group) = &group {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(group)
            .map_err(|e| RpcError::user(format!("Invalid group id: {e}")))?;
        if bytes.len() != 16 && bytes.len() != 32 {
            return Err(RpcError::user("Invalid group id: Invalid group id length"));
        }
        if !inner.accounts[number].groups.contains_key(group) {
            return Err(RpcError::user(format!("Group not found: {group}")));
        }
    }
    if recipients.is_empty() && group.is_none() {
        return Err(RpcError::user("No recipients given"));
    }
    Ok(Targets { recipients, group })
}

/// A number, an ACI, a `PNI:` or a `u:` username.
fn is_recipient(text: &str) -> bool {
    is_number(text)
        || uuid::Uuid::parse_str(text).is_ok()
        || text
            .strip_prefix("PNI:")
            .is_some_and(|pni| uuid::Uuid::parse_str(pni).is_ok())
        || text.strip_prefix("u:").is_some_and(|name| !name.is_empty())
}

/// A param that may be one string or a list of them, under `name` or `name` + `s`.
fn strings(params: &Map<String, Value>, name: &str) -> Result<Vec<String>, RpcError> {
    let value = params
        .get(name)
        .filter(|v| !v.is_null())
        .or_else(|| params.get(&format!("{name}s")).filter(|v| !v.is_null()));
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| RpcError::params(format!("{name} must be strings")))
            })
            .collect(),
        Some(_) => Err(RpcError::params(format!(
            "{name} must be a string or a list of strings"
        ))),
    }
}

fn optional_string(params: &Map<String, Value>, name: &str) -> Result<Option<String>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(RpcError::params(format!("{name} must be a string"))),
    }
}

fn optional_u64(params: &Map<String, Value>, name: &str) -> Result<Option<u64>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| RpcError::params(format!("{name} must be a number"))),
    }
}
