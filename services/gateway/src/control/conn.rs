//! The sending half of a control connection: every frame to the client goes through one queue of
//! [`OUTBOUND_FRAMES`]; a client that lets it fill (it does not read its events) is disconnected
//! with 1013 rather than buffered without bound.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::SinkExt as _;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::frame::{self, ErrorShape};
use super::limits::{CLOSE_GRACE, OUTBOUND_FRAMES};
use crate::auth::{Credential, Scopes};

/// Close codes.
pub(super) mod close {
    pub const POLICY: u16 = 1008;
    /// RFC 6455's "message too big to process".
    pub const TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const RESTART: u16 = 1012;
}

/// The sending half of a connection, shared by its request tasks and run forwarders.
pub struct Conn {
    /// Connection id.
    pub id: String,
    out: mpsc::Sender<Message>,
    seq: AtomicU64,
    /// Cancelled when the connection ends (runs' forwarders stop).
    pub closed: CancellationToken,
    close_reason: std::sync::Mutex<Option<(u16, &'static str)>>,
    /// Granted scopes.
    pub scopes: Scopes,
    /// The credential it signed in with.
    pub credential: Credential,
    /// The runs it relays as `chat` events.
    pub relays: super::relays::Relays,
}

impl Conn {
    /// A connection signed in with `scopes`, and the queue its frames go out through.
    pub(super) fn new(
        id: String,
        scopes: Scopes,
        credential: Credential,
    ) -> (Self, mpsc::Receiver<Message>) {
        let (out, outbox) = mpsc::channel(OUTBOUND_FRAMES);
        let conn = Self {
            id,
            out,
            seq: AtomicU64::new(0),
            closed: CancellationToken::new(),
            close_reason: std::sync::Mutex::new(None),
            scopes,
            credential,
            relays: super::relays::Relays::default(),
        };
        (conn, outbox)
    }

    pub(super) fn queue(&self, text: String) -> bool {
        match self.out.try_send(Message::Text(Utf8Bytes::from(text))) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(conn = %self.id, "control client does not read its frames: disconnecting");
                self.close(close::TRY_AGAIN_LATER, "slow consumer");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Sends an event; `false` once the connection is gone or was closed as a slow consumer.
    pub fn event(&self, name: &str, payload: &Value) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.queue(frame::event(name, payload, seq))
    }

    pub(super) fn respond(&self, id: &str, result: Result<Value, ErrorShape>) {
        let text = match result {
            Ok(payload) => frame::ok(id, payload),
            Err(error) => frame::error(id, &error),
        };
        self.queue(text);
    }

    pub(super) fn close(&self, code: u16, reason: &'static str) {
        if let Ok(mut slot) = self.close_reason.lock() {
            slot.get_or_insert((code, reason));
        }
        self.closed.cancel();
    }
}

/// Sends queued frames until the connection closes. A client that stops reading blocks a send; when
/// the connection is closed meanwhile (slow consumer, shutdown), the blocked frame and the close
/// frame get [`CLOSE_GRACE`], then the socket is dropped, so a dead client cannot pin the task.
pub(super) async fn write_frames(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut outbox: mpsc::Receiver<Message>,
    conn: std::sync::Arc<Conn>,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = conn.closed.cancelled() => {
                // What was queued before the close (the `shutdown` event) still goes out, within
                // the grace a closing connection gets.
                let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
                while let Ok(message) = outbox.try_recv() {
                    match tokio::time::timeout_at(deadline, sink.send(message)).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                }
                break;
            }
            message = outbox.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let closing = {
            let send = sink.send(message);
            tokio::pin!(send);
            tokio::select! {
                sent = &mut send => {
                    if sent.is_err() {
                        conn.closed.cancel();
                        return;
                    }
                    false
                }
                () = conn.closed.cancelled() => {
                    if tokio::time::timeout(CLOSE_GRACE, &mut send).await.is_err() {
                        return;
                    }
                    true
                }
            }
        };
        if closing {
            break;
        }
    }
    let (code, reason) = conn
        .close_reason
        .lock()
        .ok()
        .and_then(|slot| *slot)
        .unwrap_or((1000, ""));
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await;
}
