//! Streaming preview (`channels.telegram.streaming: true`): while the agent writes, one message in
//! the chat shows the text so far, edited at most about once a second. The preview's message id is
//! kept in KV under the turn, and the sender turns that same message into the final answer (an
//! edit, not a new message), so the chat ends with one answer, never a preview plus a copy.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt as _;
use pincer_bus::messages::RunEvent;

use super::client::{ApiError, BotApi};

/// Text needed before the first preview is shown.
const FIRST_AFTER_CHARS: usize = 24;
/// Time between two edits (Telegram allows about one a second per chat).
const EDIT_EVERY: Duration = Duration::from_millis(1200);
/// Longest preview text; the rest shows in the final answer.
const PREVIEW_CHARS: usize = 3800;
/// Never longer than this.
const CEILING: Duration = Duration::from_secs(600);

/// The KV key holding the preview message id of a turn.
pub fn key(account: &str, turn_id: &str) -> String {
    crate::channel::outbound::preview_key("telegram", account, turn_id)
}

/// Follows the run events of a turn on `events` and keeps the preview message in `chat` (and its
/// forum topic, if any) up to date; then says it is done, so the answer replaces the preview after
/// its last edit.
pub async fn follow(
    api: BotApi,
    state: kv::Store,
    key: String,
    chat: (i64, Option<i64>),
    events: async_nats::Subscriber,
) {
    edit_until_done(api, state.clone(), key.clone(), chat, events).await;
    let done = crate::channel::outbound::preview_done_key(&key);
    if let Err(error) = state.put(done, "1".into()).await {
        tracing::debug!(%error, "preview end not recorded");
    }
}

/// The edits of [`follow`].
async fn edit_until_done(
    api: BotApi,
    state: kv::Store,
    key: String,
    (chat, topic): (i64, Option<i64>),
    mut events: async_nats::Subscriber,
) {
    let mut text = String::new();
    let mut shown = String::new();
    let mut message_id: Option<i64> = None;
    let mut last_edit = tokio::time::Instant::now();
    let until = tokio::time::Instant::now() + CEILING;
    loop {
        let next = tokio::time::timeout_at(until, events.next()).await;
        let Ok(Some(message)) = next else { break };
        match serde_json::from_slice::<RunEvent>(&message.payload) {
            Ok(RunEvent::Delta { text: delta }) => text.push_str(&delta),
            Ok(RunEvent::Done { .. } | RunEvent::Error { .. }) => break,
            _ => continue,
        }
        let visible: String = text.chars().take(PREVIEW_CHARS).collect();
        if visible.trim().chars().count() < FIRST_AFTER_CHARS || visible == shown {
            continue;
        }
        match message_id {
            None => match api
                .send_message(chat, topic, &format!("{visible} …"), None, None)
                .await
            {
                Ok(id) => {
                    message_id = Some(id);
                    if let Err(error) = state.put(&key, id.to_string().into()).await {
                        tracing::warn!(%error, "cannot record the preview message");
                    }
                    shown = visible;
                    last_edit = tokio::time::Instant::now();
                }
                Err(error) => {
                    tracing::debug!(%error, chat, "preview not shown");
                    break;
                }
            },
            Some(id) if last_edit.elapsed() >= EDIT_EVERY => {
                match api
                    .edit_message(chat, id, &format!("{visible} …"), None)
                    .await
                {
                    Ok(()) | Err(ApiError::BadRequest(_)) => {}
                    Err(error) => tracing::debug!(%error, chat, "preview edit failed"),
                }
                shown = visible;
                last_edit = tokio::time::Instant::now();
            }
            Some(_) => {}
        }
    }
}
