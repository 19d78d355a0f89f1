//! `pairing.list`, `pairing.approve`, `pairing.reject`: the DM pairing requests every channel
//! account keeps in the pairing bucket (the same store the channel-bridge and `pincer pairing` use).

use pincer_store::pairing::{CODE_TTL, Pairing, PairingError, accounts_with_pending};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Services;
use super::frame::{self, Code, ErrorShape};

fn pairing_error(error: PairingError) -> ErrorShape {
    match error {
        PairingError::UnknownCode(_) => ErrorShape::new(Code::NotFound, error.to_string()),
        PairingError::Expired(_) => ErrorShape::new(Code::Conflict, error.to_string()),
        PairingError::TooManyPending => ErrorShape::new(Code::Conflict, error.to_string()),
        PairingError::Store(_) => ErrorShape::new(Code::Unavailable, error.to_string()),
    }
}

async fn pending(
    services: &Services,
) -> Result<Vec<(String, String, pincer_store::pairing::Pending)>, ErrorShape> {
    let mut out = Vec::new();
    for (channel, account) in accounts_with_pending(&services.pairing)
        .await
        .map_err(pairing_error)?
    {
        let requests = Pairing::new(services.pairing.clone(), &channel, &account)
            .pending()
            .await
            .map_err(pairing_error)?;
        out.extend(
            requests
                .into_iter()
                .map(|p| (channel.clone(), account.clone(), p)),
        );
    }
    out.sort_by_key(|(_, _, p)| p.created_ms);
    Ok(out)
}

pub(super) async fn list(services: &Services) -> Result<Value, ErrorShape> {
    let pending = pending(services).await?;
    let ttl = CODE_TTL.as_millis() as u64;
    Ok(json!({
        "pending": pending.iter().map(|(channel, account, p)| json!({
            "channel": channel,
            "account": account,
            "code": p.code,
            "senderId": p.sender_id,
            "username": p.username,
            "createdAt": p.created_ms,
            "expiresAt": p.created_ms + ttl,
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideParams {
    code: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

pub(super) async fn decide(
    services: &Services,
    params: &Value,
    approve: bool,
) -> Result<Value, ErrorShape> {
    let params: DecideParams = frame::params(params)?;
    let code = params.code.trim().to_ascii_uppercase();
    // Without channel/account, find the account that issued the code.
    let (channel, account) = match (params.channel, params.account) {
        (Some(channel), Some(account)) => (channel, account),
        (channel, account) => pending(services)
            .await?
            .into_iter()
            .find(|(c, a, p)| {
                p.code == code
                    && channel.as_deref().is_none_or(|want| want == c)
                    && account.as_deref().is_none_or(|want| want == a)
            })
            .map(|(c, a, _)| (c, a))
            .ok_or_else(|| {
                ErrorShape::new(
                    Code::NotFound,
                    format!("no pending pairing request with code {code}"),
                )
            })?,
    };
    let pairing = Pairing::new(services.pairing.clone(), &channel, &account);
    let sender_id = if approve {
        pairing
            .approve(&code)
            .await
            .map_err(pairing_error)?
            .sender_id
    } else {
        pairing
            .reject(&code)
            .await
            .map_err(pairing_error)?
            .sender_id
    };
    tracing::info!(%channel, %account, %sender_id, approve, "pairing decided from the control plane");
    Ok(json!({
        "channel": channel,
        "account": account,
        "code": code,
        "senderId": sender_id,
        "approved": approve,
    }))
}
