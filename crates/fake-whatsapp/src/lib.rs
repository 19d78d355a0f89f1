//! A fake WhatsApp Cloud API for tests and benchmarks, built from Meta's documentation: the Graph
//! API under `/<version>` (a number's info, `POST /<phone-number-id>/messages` checking the token,
//! `messaging_product`, the 4,096-character limit, groups and the 24-hour window, read receipts with
//! a typing indicator, media objects and their bytes, Meta's error bodies), and Meta's side of the
//! webhook: verification requests, notifications signed with the app secret and retried until
//! accepted, statuses after each send, forged calls on request.
//!
//! Numbers must be installed ([`RunningWhatsApp::add_number`]); any other token is refused with
//! code 190.

pub mod graph;
pub mod state;
pub mod webhook;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
pub use state::{DeliveryRecord, Knobs, NumberSpec, ReadReceipt, SentMessage, World};
use tokio_util::sync::CancellationToken;
pub use webhook::DeliveryError;

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The routes of the fake.
pub fn router(world: World) -> Router {
    Router::new()
        .route("/{version}/{id}", get(graph::get_object))
        .route("/{version}/{id}/messages", post(graph::send))
        .route("/media/{id}", get(graph::media_bytes))
        .with_state(world)
}

/// A message a person sends to a business number.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// Their WhatsApp id (the phone number's digits).
    pub from: String,
    /// Their profile name.
    pub name: String,
    /// The text (or a media caption).
    pub text: String,
    /// The group it was written in.
    pub group: Option<String>,
    /// The business message it replies to (`context`).
    pub reply_to: Option<String>,
    /// An image, document or voice note: `(type, mime type, bytes, file name)`.
    pub media: Option<(&'static str, String, Vec<u8>, Option<String>)>,
    /// When it was sent (Unix seconds; now by default): an old one has closed the 24-hour window.
    pub sent_at: Option<u64>,
}

impl Incoming {
    /// A direct message from `from`.
    pub fn dm(from: &str, text: &str) -> Self {
        Self {
            from: from.to_owned(),
            name: format!("Person {from}"),
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// A message from `from` in `group`.
    pub fn in_group(group: &str, from: &str, text: &str) -> Self {
        Self {
            group: Some(group.to_owned()),
            ..Self::dm(from, text)
        }
    }
}

/// A running fake WhatsApp; stops when dropped.
pub struct RunningWhatsApp {
    addr: SocketAddr,
    world: World,
    shutdown: CancellationToken,
}

impl RunningWhatsApp {
    /// Starts on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let world = World::new(&format!("http://{addr}"));
        let shutdown = CancellationToken::new();
        let app = router(world.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake whatsapp stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>/v23.0`: the `apiBaseUrl` to configure.
    pub fn api_base_url(&self) -> String {
        format!("http://{}/v23.0", self.addr)
    }

    /// The state, for anything the handle does not wrap.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Installs a business number.
    pub fn add_number(&self, spec: NumberSpec) {
        self.world.lock_numbers_insert(spec);
    }

    /// Points a number's notifications at `url` (what the app's webhook setting does).
    pub fn set_webhook(&self, phone_number_id: &str, url: &str) {
        if let Some(number) = self.world.lock().numbers.get_mut(phone_number_id) {
            number.webhook_url = Some(url.to_owned());
        }
    }

    /// Declares a group the number is in, with its members.
    pub fn add_group(&self, phone_number_id: &str, group_id: &str, members: &[&str]) {
        self.world.lock().groups.insert(
            group_id.to_owned(),
            (
                phone_number_id.to_owned(),
                members.iter().map(|m| (*m).to_owned()).collect(),
            ),
        );
    }

    /// Changes the faults played.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.world.lock().knobs);
    }

    /// Meta's verification request to `url` with `verify_token`: whether the challenge came back.
    pub async fn verify_webhook(&self, url: &str, verify_token: &str) -> Result<bool, String> {
        let challenge = fastrand::u64(1_000_000..u64::MAX).to_string();
        let mut target = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        target
            .query_pairs_mut()
            .append_pair("hub.mode", "subscribe")
            .append_pair("hub.challenge", &challenge)
            .append_pair("hub.verify_token", verify_token);
        let response = self
            .world
            .http
            .get(target)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(ok && body == challenge)
    }

    /// A person writes to the number: the notification is delivered (signed, retried) and the
    /// message's `wamid` returned once the webhook accepted it.
    pub async fn user_says(
        &self,
        phone_number_id: &str,
        incoming: &Incoming,
    ) -> Result<String, DeliveryError> {
        let (id, body) = self.message_notification(phone_number_id, incoming);
        webhook::deliver(&self.world, phone_number_id, &body).await?;
        Ok(id)
    }

    /// The notification a person's message makes (recorded as sent to the number, not delivered):
    /// its `wamid` and body.
    pub fn message_notification(
        &self,
        phone_number_id: &str,
        incoming: &Incoming,
    ) -> (String, Value) {
        let id = self.world.next_id("wamid.HBgM");
        let sent_at = incoming.sent_at.unwrap_or_else(now_secs);
        let mut message = json!({
            "from": incoming.from,
            "id": id,
            "timestamp": sent_at.to_string(),
        });
        if let Some(group) = &incoming.group {
            message["group_id"] = json!(group);
        }
        if let Some(reply_to) = &incoming.reply_to {
            let display = self
                .world
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
            message["context"] = json!({"from": display, "id": reply_to});
        }
        match &incoming.media {
            Some((kind, mime, bytes, file_name)) => {
                let media_id = self.world.next_id("");
                self.world
                    .lock()
                    .media
                    .insert(media_id.clone(), (mime.clone(), bytes.clone()));
                let mut media = json!({"id": media_id, "mime_type": mime, "sha256": "x"});
                if !incoming.text.is_empty() {
                    media["caption"] = json!(incoming.text);
                }
                if let Some(name) = file_name {
                    media["filename"] = json!(name);
                }
                if *kind == "audio" {
                    media["voice"] = json!(true);
                }
                message["type"] = json!(kind);
                message[*kind] = media;
            }
            None => {
                message["type"] = json!("text");
                message["text"] = json!({"body": incoming.text});
            }
        }
        {
            let mut state = self.world.lock();
            let person = (phone_number_id.to_owned(), incoming.from.clone());
            let last = state.last_inbound.entry(person).or_default();
            *last = (*last).max(sent_at);
            state
                .inbound_ids
                .entry(phone_number_id.to_owned())
                .or_default()
                .push(id.clone());
        }
        let value = json!({
            "contacts": [{"profile": {"name": incoming.name}, "wa_id": incoming.from}],
            "messages": [message],
        });
        (
            id,
            webhook::notification(&self.world, phone_number_id, value),
        )
    }

    /// One POST of `body` to `url` with the given signature header (or none): the status.
    pub async fn post_raw(&self, url: &str, body: &[u8], signature: Option<&str>) -> u16 {
        let mut request = self
            .world
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request
            .send()
            .await
            .map_or(0, |response| response.status().as_u16())
    }

    /// What the business sent, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.world.lock().sent.clone()
    }

    /// Read receipts the business sent.
    pub fn receipts(&self) -> Vec<ReadReceipt> {
        self.world.lock().receipts.clone()
    }

    /// Every webhook POST.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.world.lock().deliveries.clone()
    }
}

impl Drop for RunningWhatsApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
