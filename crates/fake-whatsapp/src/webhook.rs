//! Notifications from Meta's side: a body signed with the app secret
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`), POSTed to the number's
//! webhook and retried while the answer is not a 2xx (Meta keeps retrying, less and less often, for
//! days; here for about a minute). Statuses of the business's messages follow each send.

use std::time::Duration;

use serde_json::{Value, json};

use crate::state::{DeliveryRecord, World};

/// Why a notification did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The number has no webhook yet.
    #[error("number {0} has no webhook url")]
    NoWebhook(String),
    /// No unknown number.
    #[error("no number {0}")]
    UnknownNumber(String),
    /// Every attempt failed; the last status (0: unreachable).
    #[error("the webhook never accepted the notification (last status {0})")]
    Refused(u16),
}

/// The signature header value of `body` under `app_secret`.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A notification for `phone_number_id` carrying `value`'s `messages` or `statuses`.
pub fn notification(world: &World, phone_number_id: &str, mut value: Value) -> Value {
    let display = world
        .lock()
        .numbers
        .get(phone_number_id)
        .map(|n| {
            n.display_phone_number
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": display, "phone_number_id": phone_number_id});
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    })
}

/// Delivers `notification` to the number's webhook, signed, retrying until a 2xx or about a
/// minute has passed.
pub async fn deliver(
    world: &World,
    phone_number_id: &str,
    notification: &Value,
) -> Result<(), DeliveryError> {
    let number = world
        .lock()
        .numbers
        .get(phone_number_id)
        .cloned()
        .ok_or_else(|| DeliveryError::UnknownNumber(phone_number_id.to_owned()))?;
    let url = number
        .webhook_url
        .clone()
        .ok_or_else(|| DeliveryError::NoWebhook(phone_number_id.to_owned()))?;
    let body = notification.to_string().into_bytes();
    let duplicate = world.lock().knobs.duplicate_notifications;
    let mut delivered =
        post_until_accepted(world, &number.app_secret, &url, phone_number_id, &body).await;
    if delivered.is_ok() && duplicate {
        delivered =
            post_until_accepted(world, &number.app_secret, &url, phone_number_id, &body).await;
    }
    delivered
}

async fn post_until_accepted(
    world: &World,
    app_secret: &str,
    url: &str,
    phone_number_id: &str,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut wait = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let status = world
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature(app_secret, body))
            .body(body.to_vec())
            .send()
            .await
            .map_or(0, |response| response.status().as_u16());
        world.lock().deliveries.push(DeliveryRecord {
            phone_number_id: phone_number_id.to_owned(),
            status,
            attempt,
        });
        if (200..300).contains(&status) {
            return Ok(());
        }
        if tokio::time::Instant::now() + wait > deadline {
            return Err(DeliveryError::Refused(status));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// After a send: `sent`, then `delivered` and `read` (or `failed` with Meta's error), each in a
/// notification of its own, in the background.
pub fn spawn_statuses(
    world: &World,
    phone_number_id: &str,
    message_id: &str,
    to: &str,
    outcome: &str,
) {
    if !world.lock().knobs.statuses {
        return;
    }
    let stages: Vec<Value> = match outcome.strip_prefix("failed:") {
        Some(code) => vec![json!({
            "status": "failed",
            "errors": [{
                "code": code.parse::<i64>().unwrap_or_default(),
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
            }],
        })],
        None => ["sent", "delivered", "read"]
            .iter()
            .map(|status| json!({"status": status}))
            .collect(),
    };
    let (world, number, id, to) = (
        world.clone(),
        phone_number_id.to_owned(),
        message_id.to_owned(),
        to.to_owned(),
    );
    tokio::spawn(async move {
        for mut stage in stages {
            stage["id"] = json!(id);
            stage["recipient_id"] = json!(to);
            stage["timestamp"] = json!(crate::now_secs().to_string());
            let body = notification(&world, &number, json!({"statuses": [stage]}));
            if let Err(error) = deliver(&world, &number, &body).await {
                tracing::debug!(%error, "status not delivered");
            }
        }
    });
}
