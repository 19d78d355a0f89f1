//! Socket Mode delivery: envelopes go round-robin to an app's open sockets (preferring ones not
//! told to disconnect); one not acked within the ack timeout is redelivered with the next
//! `retry_attempt` and `retry_reason: "timeout"`, until Slack gives up after the last retry.
//! Envelopes wait while the app has no socket.

use std::time::Instant;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::records::{AckRecord, EnvelopeRecord};
use crate::state::{Envelope, Inner, SocketCommand, World};

impl Inner {
    /// Queues an `events_api` envelope for `payload`; returns its `envelope_id`.
    pub fn enqueue(&mut self, app_token: &str, event_id: &str, payload: Value) -> Option<String> {
        self.enqueue_envelope(app_token, "events_api", event_id, payload)
    }

    /// Queues an envelope of any type (`events_api`, `slash_commands`, `interactive`); only
    /// `events_api` ones say they accept no response payload.
    pub fn enqueue_envelope(
        &mut self,
        app_token: &str,
        kind: &str,
        event_id: &str,
        payload: Value,
    ) -> Option<String> {
        let app = self.apps.get_mut(app_token)?;
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let event_type = payload["event"]["type"]
            .as_str()
            .or_else(|| payload["type"].as_str())
            .or_else(|| payload["command"].as_str())
            .unwrap_or_default()
            .to_owned();
        let body = json!({ "envelope_id": envelope_id, "type": kind,
                           "accepts_response_payload": kind != "events_api", "payload": payload });
        app.envelopes.push(Envelope {
            body,
            due: Some(Instant::now()),
            record: EnvelopeRecord {
                envelope_id: envelope_id.clone(),
                event_id: event_id.to_owned(),
                event_type,
                deliveries: 0,
                sockets: Vec::new(),
                acked: false,
                given_up: false,
            },
        });
        Some(envelope_id)
    }

    /// Sockets an app's envelopes may go to: those not told to disconnect, or all if none is.
    fn delivery_targets(&self, app_token: &str) -> Vec<u64> {
        let open = self.sockets_of(app_token);
        let steady: Vec<u64> = open
            .iter()
            .copied()
            .filter(|id| self.live.get(id).is_some_and(|s| !s.disconnecting))
            .collect();
        if steady.is_empty() { open } else { steady }
    }

    /// Delivers every due envelope; returns when the next one falls due.
    pub fn deliver_due(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let tokens: Vec<String> = self.apps.keys().cloned().collect();
        for token in tokens {
            let targets = self.delivery_targets(&token);
            let Some(app) = self.apps.get_mut(&token) else {
                continue;
            };
            let timeout = app.knobs.ack_timeout();
            let most = 1 + app.knobs.max_retries;
            while app
                .envelopes
                .get(app.settled)
                .is_some_and(|e| e.due.is_none())
            {
                app.settled += 1;
            }
            for envelope in &mut app.envelopes[app.settled..] {
                let Some(due) = envelope.due else {
                    continue;
                };
                if due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                if envelope.record.deliveries >= most {
                    envelope.due = None;
                    envelope.record.given_up = true;
                    continue;
                }
                if targets.is_empty() {
                    continue;
                }
                let socket = targets[app.next_socket % targets.len()];
                app.next_socket = app.next_socket.wrapping_add(1);
                let attempt = envelope.record.deliveries;
                let mut frame = envelope.body.clone();
                frame["retry_attempt"] = json!(attempt);
                frame["retry_reason"] = json!(if attempt == 0 { "" } else { "timeout" });
                if let Some(live) = self.live.get(&socket) {
                    let _ = live.commands.send(SocketCommand::Send(frame));
                }
                if let Some(record) = self.sockets.get_mut(&socket) {
                    record.envelopes += 1;
                }
                envelope.record.deliveries += 1;
                envelope.record.sockets.push(socket);
                let due = now + timeout;
                envelope.due = Some(due);
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// An ack frame (`{"envelope_id": …, "payload"?: …}`) arrived on `socket`.
    pub fn ack(&mut self, socket: u64, envelope_id: &str, payload: Option<Value>) {
        let Some(app_token) = self.live.get(&socket).map(|s| s.app.clone()) else {
            return;
        };
        if let Some(record) = self.sockets.get_mut(&socket) {
            record.acks += 1;
        }
        let Some(app) = self.apps.get_mut(&app_token) else {
            return;
        };
        let now = Instant::now();
        let envelope = app
            .envelopes
            .iter_mut()
            .rev()
            .find(|e| e.record.envelope_id == envelope_id);
        let (known, late) = match envelope {
            Some(envelope) => {
                let late = envelope.record.given_up || envelope.due.is_some_and(|due| now > due);
                envelope.record.acked = true;
                envelope.due = None;
                (true, late)
            }
            None => (false, false),
        };
        app.acks.push(AckRecord {
            envelope_id: envelope_id.to_owned(),
            socket,
            known,
            late,
            payload,
        });
    }
}

/// The delivery loop, until `shutdown`.
pub async fn run(world: World, shutdown: CancellationToken) {
    loop {
        let next = world.lock().deliver_due(Instant::now());
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = world.wake.notified() => {}
            () = wait => {}
        }
    }
}
