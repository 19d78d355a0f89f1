//! Socket Mode for one app: a WebSocket to Slack that needs no public URL.
//!
//! Each envelope is acknowledged only after its message is durably handed on (Slack redelivers an
//! envelope that is not acked within three seconds, and the redelivery is recognised by the
//! message's identity). When Slack announces a `disconnect` (a routine refresh, or a warning
//! before a close), the next socket is opened first and the old one closed only once the new one
//! said `hello`: no gap, and never more than two sockets for the app (OpenClaw leaked sockets until
//! Slack's cap of ten refused them). Pings every ten seconds, and a socket silent for thirty is
//! replaced. `link_disabled` (Socket Mode turned off for the app) and a refused token stop the
//! account.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::web::{Web, WebError};
use crate::channel::health::AccountHealth;

/// Sockets open at once, at most (one, plus its replacement while a refresh overlaps).
pub const MAX_SOCKETS: usize = 2;
/// Ping interval.
const PING_EVERY: Duration = Duration::from_secs(10);
/// A socket with no frame for this long is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);
/// Longest wait for a socket to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A retiring socket closes at the latest this long after its replacement said hello.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What handles an app's events.
pub trait Envelopes: Send + Sync {
    /// Handles an `events_api` payload; `true` once it is durably dealt with (then it is acked).
    fn handle(&self, payload: &Value) -> impl Future<Output = bool> + Send;
}

/// What a socket reports to the supervisor.
#[derive(Debug)]
enum SocketEvent {
    Hello(u64),
    Envelope { socket: u64, envelope: Value },
    Disconnect { socket: u64, reason: String },
    Closed { socket: u64, reason: String },
}

/// What the supervisor tells a socket.
#[derive(Debug)]
enum Control {
    Ack(String),
    Close,
}

struct Socket {
    id: u64,
    /// Unbounded: the supervisor must never wait on a socket that waits on the supervisor.
    control: mpsc::UnboundedSender<Control>,
    /// Slack asked for it to be replaced.
    retiring: bool,
}

/// The `disconnect` reason of a socket refused because the app has too many open.
const TOO_MANY_SOCKETS: &str = "too_many_websockets";

/// Why Socket Mode stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Shutdown.
    Shutdown,
    /// Never works as configured (the token, or Socket Mode off for the app).
    Fatal(String),
}

/// Keeps the app connected until `shutdown` or a fatal refusal, handing every envelope to
/// `envelopes`.
pub async fn run(
    web: &Web,
    envelopes: &impl Envelopes,
    health: &AccountHealth,
    shutdown: &CancellationToken,
) -> Stopped {
    let (events, mut inbox) = mpsc::channel::<SocketEvent>(32);
    let mut sockets: Vec<Socket> = Vec::new();
    let mut next_id = 0u64;
    let mut failures = 0u32;
    // No socket is opened before this (after a refusal for too many sockets); the sockets there
    // are keep being served meanwhile.
    let mut open_after = tokio::time::Instant::now();
    // The socket last refused (its close is no failure of its own: the refusal counted).
    let mut refused_socket = None;
    loop {
        let wants_socket = sockets.iter().all(|s| s.retiring) && sockets.len() < MAX_SOCKETS;
        if wants_socket && tokio::time::Instant::now() >= open_after {
            health.connecting("opening a Socket Mode connection").await;
            match web.connections_open().await {
                Ok(url) => {
                    next_id += 1;
                    sockets.push(spawn(next_id, url, events.clone(), shutdown.clone()));
                }
                Err(WebError::Auth(reason)) => {
                    close_all(&sockets).await;
                    return Stopped::Fatal(format!(
                        "Slack refused the app-level token ({reason}); check channels.slack.appToken"
                    ));
                }
                Err(error) => {
                    failures += 1;
                    health
                        .retrying(&format!("apps.connections.open: {error}"))
                        .await;
                    let wait = match error {
                        WebError::RetryAfter(wait) => wait,
                        _ => Duration::from_secs(1 << failures.min(5)),
                    };
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            close_all(&sockets).await;
                            return Stopped::Shutdown;
                        }
                        () = tokio::time::sleep(wait) => continue,
                    }
                }
            }
        }
        let event = tokio::select! {
            () = shutdown.cancelled() => {
                close_all(&sockets).await;
                return Stopped::Shutdown;
            }
            () = tokio::time::sleep_until(open_after), if wants_socket => continue,
            event = inbox.recv() => event,
        };
        let Some(event) = event else {
            return Stopped::Shutdown;
        };
        match event {
            SocketEvent::Hello(id) => {
                failures = 0;
                for socket in &sockets {
                    if socket.id != id && socket.retiring {
                        // The replacement is up: the old one may go now.
                        let _ = socket.control.send(Control::Close);
                    }
                }
                health.connected("", "socket mode connected").await;
            }
            SocketEvent::Envelope { socket, envelope } => {
                health.event().await;
                let Some(envelope_id) = envelope.get("envelope_id").and_then(Value::as_str) else {
                    continue;
                };
                let handled = match envelope.get("type").and_then(Value::as_str) {
                    Some("events_api") => match envelope.get("payload") {
                        Some(payload) => envelopes.handle(payload).await,
                        None => true,
                    },
                    // Slash commands and interactions are not used: acked so Slack stops resending.
                    _ => true,
                };
                if handled && let Some(target) = sockets.iter().find(|s| s.id == socket) {
                    let _ = target.control.send(Control::Ack(envelope_id.to_owned()));
                }
            }
            SocketEvent::Disconnect { socket, reason } => {
                if reason == "link_disabled" {
                    close_all(&sockets).await;
                    return Stopped::Fatal(
                        "Slack disabled Socket Mode for this app (disconnect: link_disabled); enable it in the app's settings or use mode \"http\"".to_owned(),
                    );
                }
                if reason == TOO_MANY_SOCKETS {
                    // Slack's limit of sockets per app is taken (other clients of the same app):
                    // a new socket would be refused the same way at once, so wait, longer each time.
                    failures += 1;
                    let wait = Duration::from_secs(1 << failures.min(5));
                    tracing::warn!(
                        ?wait,
                        "slack refused a socket: the app has too many connections (another process using this app token?)"
                    );
                    health
                        .retrying(
                            "Slack refused the connection: too many sockets open for this app",
                        )
                        .await;
                    if let Some(refused) = sockets.iter().find(|s| s.id == socket) {
                        let _ = refused.control.send(Control::Close);
                    }
                    sockets.retain(|s| s.id != socket);
                    refused_socket = Some(socket);
                    open_after = tokio::time::Instant::now() + wait;
                    continue;
                }
                tracing::info!(%reason, socket, "slack asks to replace a socket");
                if let Some(old) = sockets.iter_mut().find(|s| s.id == socket) {
                    old.retiring = true;
                }
            }
            SocketEvent::Closed { socket, .. } if refused_socket == Some(socket) => {
                refused_socket = None;
            }
            SocketEvent::Closed { socket, reason } => {
                sockets.retain(|s| s.id != socket);
                if sockets.iter().all(|s| s.retiring) {
                    tracing::info!(%reason, "slack socket closed; reconnecting");
                    health.retrying(&reason).await;
                    failures += 1;
                    let wait = Duration::from_millis(250 * u64::from(failures.min(20)));
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            close_all(&sockets).await;
                            return Stopped::Shutdown;
                        }
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

async fn close_all(sockets: &[Socket]) {
    for socket in sockets {
        let _ = socket.control.send(Control::Close);
    }
}

/// Opens a socket to `url` in a task of its own.
fn spawn(
    id: u64,
    url: String,
    events: mpsc::Sender<SocketEvent>,
    shutdown: CancellationToken,
) -> Socket {
    let (control, commands) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let reason = serve(id, &url, &events, commands, &shutdown).await;
        let _ = events
            .send(SocketEvent::Closed { socket: id, reason })
            .await;
    });
    Socket {
        id,
        control,
        retiring: false,
    }
}

/// Runs one socket until it closes; returns why.
async fn serve(
    id: u64,
    url: &str,
    events: &mpsc::Sender<SocketEvent>,
    mut commands: mpsc::UnboundedReceiver<Control>,
    shutdown: &CancellationToken,
) -> String {
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url)).await;
    let (mut write, mut read) = match opened {
        Ok(Ok((socket, _))) => socket.split(),
        Ok(Err(error)) => return format!("cannot open the socket: {error}"),
        Err(_) => return "the socket did not open in time".to_owned(),
    };
    let mut last_frame = tokio::time::Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        let deadline = match closing_since {
            Some(at) => at + CLOSE_GRACE,
            None => last_frame + SILENCE_LIMIT,
        };
        tokio::select! {
            () = shutdown.cancelled(), if closing_since.is_none() => {
                let _ = write.send(Message::Close(None)).await;
                closing_since = Some(tokio::time::Instant::now());
            }
            command = commands.recv() => match command {
                Some(Control::Ack(envelope_id)) => {
                    let ack = json!({ "envelope_id": envelope_id }).to_string();
                    if let Err(error) = write.send(Message::Text(ack.into())).await {
                        return format!("cannot ack: {error}");
                    }
                }
                Some(Control::Close) | None => {
                    if closing_since.is_none() {
                        let _ = write.send(Message::Close(None)).await;
                        closing_since = Some(tokio::time::Instant::now());
                    }
                }
            },
            _ = ping.tick() => {
                if let Err(error) = write.send(Message::Ping(Vec::new().into())).await {
                    return format!("cannot ping: {error}");
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return if closing_since.is_some() {
                    "closed after its replacement connected".to_owned()
                } else {
                    "nothing from Slack for 30 s".to_owned()
                };
            }
            frame = read.next() => {
                last_frame = tokio::time::Instant::now();
                match frame {
                    None => return "the socket ended".to_owned(),
                    Some(Err(error)) => return format!("socket error: {error}"),
                    Some(Ok(Message::Close(frame))) => {
                        return frame.map_or_else(
                            || "Slack closed the socket".to_owned(),
                            |f| format!("Slack closed the socket ({}: {})", u16::from(f.code), f.reason),
                        );
                    }
                    Some(Ok(Message::Text(text))) => {
                        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                            tracing::warn!("unreadable socket mode frame ignored");
                            continue;
                        };
                        let event = match frame.get("type").and_then(Value::as_str) {
                            Some("hello") => SocketEvent::Hello(id),
                            Some("disconnect") => SocketEvent::Disconnect {
                                socket: id,
                                reason: frame.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
                            },
                            Some(_) if frame.get("envelope_id").is_some() => SocketEvent::Envelope { socket: id, envelope: frame },
                            _ => continue,
                        };
                        if events.send(event).await.is_err() {
                            return "the app stopped".to_owned();
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}
