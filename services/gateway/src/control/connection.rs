//! One control connection: handshake, read loop, ticks, and the bounded outbound queue.
//!
//! Every frame to the client goes through one queue of [`OUTBOUND_FRAMES`]; a client that lets it
//! fill (it does not read its events) is disconnected with 1013 rather than buffered without bound.
//! Requests run as tasks, at most [`IN_FLIGHT`] at once per connection, so a slow method never
//! blocks the reading of the next frame (or of the socket's close).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::Services;
use super::frame::{self, Code, ErrorShape, PROTOCOL};
use crate::auth::guard::{Guard, Refusal};
use crate::auth::{ClientAddr, Scope, Scopes};

/// Frames queued for a client before it counts as a slow consumer.
pub const OUTBOUND_FRAMES: usize = 256;
/// Requests running at once per connection.
pub const IN_FLIGHT: usize = 16;
/// Largest frame before sign-in.
pub const MAX_PREAUTH_BYTES: usize = 64 * 1024;
/// Largest frame after sign-in (and what a socket may buffer for one frame before it).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Sockets allowed in their handshake at once: with the frame cap this bounds what unauthenticated
/// clients can make the gateway hold (32 × 256 KiB).
pub const MAX_HANDSHAKES: usize = 32;
/// Of those, from one client address.
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 8;
/// Time allowed for the `connect` request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a closing connection's last frames may take before the socket is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Interval of `tick` events.
pub const TICK: Duration = Duration::from_secs(15);

/// Close codes.
mod close {
    pub const POLICY: u16 = 1008;
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
    pub credential: crate::auth::Credential,
}

impl Conn {
    fn queue(&self, text: String) -> bool {
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

    fn respond(&self, id: &str, result: Result<Value, ErrorShape>) {
        let text = match result {
            Ok(payload) => frame::ok(id, payload),
            Err(error) => frame::error(id, &error),
        };
        self.queue(text);
    }

    fn close(&self, code: u16, reason: &'static str) {
        if let Ok(mut slot) = self.close_reason.lock() {
            slot.get_or_insert((code, reason));
        }
        self.closed.cancel();
    }
}

/// `connect` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectParams {
    #[serde(default = "protocol")]
    min_protocol: u32,
    #[serde(default = "protocol")]
    max_protocol: u32,
    #[serde(default)]
    client: Option<Value>,
    #[serde(default = "operator")]
    role: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    auth: ConnectAuth,
    /// OpenClaw's signed device identity; only its `nonce` is checked here (it must answer this
    /// connection's challenge).
    #[serde(default)]
    device: Option<ConnectDevice>,
    /// The challenge's nonce, echoed by clients without a device identity.
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConnectDevice {
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConnectAuth {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn protocol() -> u32 {
    PROTOCOL
}

fn operator() -> String {
    "operator".to_owned()
}

/// Serves one upgraded socket until it closes.
pub async fn serve(
    socket: WebSocket,
    services: Arc<Services>,
    guard: Arc<Guard>,
    client: ClientAddr,
    headers: http::HeaderMap,
    handshake: HandshakeSlot,
) {
    let conn_id = uuid::Uuid::new_v4().simple().to_string();
    let (mut sink, mut stream) = socket.split();
    let (out, outbox) = mpsc::channel::<Message>(OUTBOUND_FRAMES);
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let challenge = frame::event(
        "connect.challenge",
        &json!({ "nonce": nonce, "ts": pincer_clock::now_ms() }),
        0,
    );
    if sink.send(Message::Text(challenge.into())).await.is_err() {
        return;
    }

    // The first frame must be `connect`.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.next()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(text)))) if text.len() <= MAX_PREAUTH_BYTES => text,
        Ok(Some(Ok(Message::Text(_) | Message::Binary(_)))) => {
            refuse(
                &mut sink,
                "?",
                ErrorShape::invalid("the first frame must be a connect request under 64 KiB"),
            )
            .await;
            return;
        }
        Err(_) => {
            refuse(
                &mut sink,
                "?",
                ErrorShape::invalid("no connect request within 15s"),
            )
            .await;
            return;
        }
        _ => return,
    };
    let request = match frame::parse(&text) {
        Ok(request) if request.method == "connect" => request,
        Ok(request) => {
            refuse(
                &mut sink,
                &request.id,
                ErrorShape::invalid(format!(
                    "the first request must be \"connect\", not {:?}",
                    request.method
                )),
            )
            .await;
            return;
        }
        Err(error) => {
            refuse(&mut sink, "?", error).await;
            return;
        }
    };
    let params: ConnectParams = match frame::params(&request.params) {
        Ok(params) => params,
        Err(error) => {
            refuse(&mut sink, &request.id, error).await;
            return;
        }
    };
    if params.min_protocol > PROTOCOL || params.max_protocol < PROTOCOL {
        let error = ErrorShape::invalid(format!(
            "protocol {}..{} is not supported; this gateway speaks {PROTOCOL}",
            params.min_protocol, params.max_protocol
        ));
        refuse(&mut sink, &request.id, error).await;
        return;
    }
    // A connect frame captured on another connection answers another challenge.
    let answered = params
        .device
        .as_ref()
        .and_then(|device| device.nonce.as_deref())
        .or(params.nonce.as_deref());
    if answered.is_some_and(|answered| answered != nonce) {
        let error =
            ErrorShape::invalid("the connect request answers another connection's challenge");
        refuse(&mut sink, &request.id, error).await;
        return;
    }
    if params.role != "operator" {
        let error = ErrorShape::invalid(format!(
            "role {:?} is not served here; use \"operator\"",
            params.role
        ));
        refuse(&mut sink, &request.id, error).await;
        return;
    }
    if let Some(unknown) = params.scopes.iter().find(|s| Scope::parse(s).is_none()) {
        let known: Vec<&str> = Scope::ALL.iter().map(|scope| scope.name()).collect();
        let error = ErrorShape::invalid(format!(
            "unknown scope {unknown:?}; known: {}",
            known.join(", ")
        ));
        refuse(&mut sink, &request.id, error).await;
        return;
    }
    let secret = params
        .auth
        .token
        .as_deref()
        .or(params.auth.password.as_deref());
    let (who, credential) = match guard.admit_connect(&client, &headers, secret) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            refuse(&mut sink, &request.id, refusal_error(refusal)).await;
            return;
        }
    };
    // What the client asks for, as far as its credential allows.
    let allowed = credential.allowed_scopes(guard.has_admin_token());
    let asked: Vec<Scope> = if params.scopes.is_empty() {
        vec![Scope::Read]
    } else {
        params
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect()
    };
    let scopes: Vec<Scope> = asked
        .into_iter()
        .filter(|scope| allowed.contains(scope))
        .collect();
    let conn = Arc::new(Conn {
        id: conn_id.clone(),
        out,
        seq: AtomicU64::new(0),
        closed: CancellationToken::new(),
        close_reason: std::sync::Mutex::new(None),
        scopes: Scopes::new(scopes),
        credential,
    });
    let client_name = params
        .client
        .as_ref()
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect::<String>();
    tracing::info!(conn = %conn_id, client = %client_name, peer = %client.ip, %who, "control client signed in");
    let hello = json!({
        "type": "hello-ok",
        "protocol": PROTOCOL,
        "server": { "version": env!("CARGO_PKG_VERSION"), "connId": conn_id },
        "features": { "methods": super::methods::Method::names(), "events": ["connect.challenge", "tick", "chat", "shutdown"] },
        "snapshot": { "uptimeMs": services.started.elapsed().as_millis() as u64 },
        "auth": { "role": "operator", "scopes": conn.scopes.names() },
        "policy": {
            "maxPayload": MAX_PAYLOAD_BYTES,
            "maxBufferedBytes": OUTBOUND_FRAMES * MAX_PAYLOAD_BYTES,
            "tickIntervalMs": TICK.as_millis() as u64,
        },
    });
    if sink
        .send(Message::Text(frame::ok(&request.id, hello).into()))
        .await
        .is_err()
    {
        return;
    }
    drop(handshake);
    services.connections.fetch_add(1, Ordering::Relaxed);

    let writer = tokio::spawn(write_frames(sink, outbox, Arc::clone(&conn)));

    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    loop {
        tokio::select! {
            () = conn.closed.cancelled() => break,
            () = services.shutdown.cancelled() => {
                conn.event("shutdown", &json!({ "reason": "gateway stopping" }));
                conn.close(close::RESTART, "gateway stopping");
                break;
            }
            _ = tick.tick() => {
                conn.event("tick", &json!({ "ts": pincer_clock::now_ms() }));
            }
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if text.len() > MAX_PAYLOAD_BYTES {
                        conn.close(close::POLICY, "frame too large");
                        break;
                    }
                    handle(&services, &conn, &in_flight, &text);
                }
                Some(Ok(Message::Binary(_))) => {
                    conn.respond("?", Err(ErrorShape::invalid("binary frames are not part of the protocol")));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    conn.closed.cancel();
    let _ = writer.await;
    services.connections.fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(conn = %conn_id, "control client gone");
}

/// Sends queued frames until the connection closes. A client that stops reading blocks a send; when
/// the connection is closed meanwhile (slow consumer, shutdown), the blocked frame and the close
/// frame get [`CLOSE_GRACE`], then the socket is dropped, so a dead client cannot pin the task.
async fn write_frames(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut outbox: mpsc::Receiver<Message>,
    conn: Arc<Conn>,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = conn.closed.cancelled() => break,
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

/// A socket's place among those in their handshake: taken before the upgrade (atomically, so a
/// burst cannot pass the cap), given back when the handshake ends.
pub struct HandshakeSlot {
    services: Arc<Services>,
    ip: std::net::IpAddr,
}

impl HandshakeSlot {
    /// Takes a place for a socket from `ip`, or says why there is none.
    pub fn reserve(services: &Arc<Services>, ip: std::net::IpAddr) -> Result<Self, &'static str> {
        services
            .handshakes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < MAX_HANDSHAKES).then_some(open + 1)
            })
            .map_err(|_| "too many sign-ins in progress; retry in a moment")?;
        let mut by_address = services
            .handshakes_by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = by_address.entry(ip).or_insert(0);
        if *open >= MAX_HANDSHAKES_PER_ADDRESS {
            services.handshakes.fetch_sub(1, Ordering::AcqRel);
            return Err("too many sign-ins in progress from this address; retry in a moment");
        }
        *open += 1;
        Ok(Self {
            services: Arc::clone(services),
            ip,
        })
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.services.handshakes.fetch_sub(1, Ordering::AcqRel);
        let mut by_address = self
            .services
            .handshakes_by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = by_address.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                by_address.remove(&self.ip);
            }
        }
    }
}

fn handle(services: &Arc<Services>, conn: &Arc<Conn>, in_flight: &Arc<Semaphore>, text: &str) {
    let request = match frame::parse(text) {
        Ok(request) => request,
        Err(error) => {
            // Answer with the id when it can be read, so the client can match the error.
            let id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "?".to_owned());
            conn.respond(&id, Err(error));
            return;
        }
    };
    let Ok(permit) = Arc::clone(in_flight).try_acquire_owned() else {
        conn.respond(
            &request.id,
            Err(ErrorShape::new(
                Code::Unavailable,
                format!("more than {IN_FLIGHT} requests in flight on this connection"),
            )),
        );
        return;
    };
    let services = Arc::clone(services);
    let conn = Arc::clone(conn);
    tokio::spawn(async move {
        let result = tokio::select! {
            result = super::methods::call(&services, &conn, &request.method, &request.params) => result,
            () = conn.closed.cancelled() => return,
        };
        conn.respond(&request.id, result);
        drop(permit);
    });
}

async fn refuse(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    id: &str,
    error: ErrorShape,
) {
    let _ = sink
        .send(Message::Text(frame::error(id, &error).into()))
        .await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close::POLICY,
            reason: Utf8Bytes::from_static("connect refused"),
        })))
        .await;
}

/// A refused sign-in as a protocol error.
pub fn refusal_error(refusal: Refusal) -> ErrorShape {
    match refusal {
        Refusal::Unauthorized => ErrorShape::new(Code::Unauthorized, "unauthorized"),
        Refusal::RateLimited(wait) => ErrorShape {
            retry_after_ms: Some(wait.as_millis() as u64),
            ..ErrorShape::new(
                Code::RateLimited,
                format!(
                    "too many failed attempts; retry in {}s",
                    wait.as_secs().max(1)
                ),
            )
        },
        Refusal::Forbidden(reason) => ErrorShape::new(Code::Forbidden, reason),
    }
}
