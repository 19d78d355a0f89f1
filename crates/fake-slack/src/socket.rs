//! Socket Mode connections: `ws://host/link/?ticket=…` with a single-use ticket from
//! `apps.connections.open`; `hello` first, then envelopes from the delivery loop, acks back, WS
//! pings, and the scripted `disconnect` / drop / silence.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::records::{Ending, SocketRecord};
use crate::state::{LiveSocket, SocketCommand, World};

/// The close code of a socket the fake ends after a `disconnect`.
const GOING_AWAY: u16 = 1001;
/// Non-ack frames kept per socket.
const KEPT_FRAMES: usize = 100;

/// Accepts the upgrade if `ticket` is a fresh one; a used or unknown ticket is refused.
pub fn accept(
    ws: WebSocketUpgrade,
    ticket: &str,
    world: World,
    shutdown: CancellationToken,
) -> Response {
    let Some(app) = world.lock().tickets.remove(ticket) else {
        return (StatusCode::UNAUTHORIZED, "invalid or used ticket").into_response();
    };
    ws.on_upgrade(move |socket| serve(socket, app, world, shutdown))
}

impl World {
    /// Registers a socket of `app_token`; returns its id, orders channel, `hello` and ping period.
    fn open_socket(
        &self,
        app_token: &str,
    ) -> (u64, UnboundedReceiver<SocketCommand>, Value, Duration) {
        let mut inner = self.lock();
        inner.last_socket += 1;
        let id = inner.last_socket;
        let (commands, receiver) = unbounded_channel();
        // A silent socket's path is dead: once the app reconnects, it goes.
        for live in inner
            .live
            .values_mut()
            .filter(|s| s.app == app_token && s.silent)
        {
            let _ = live.commands.send(SocketCommand::Drop);
        }
        inner.live.insert(
            id,
            LiveSocket {
                app: app_token.to_owned(),
                commands,
                disconnecting: false,
                silent: false,
            },
        );
        let open = inner.sockets_of(app_token).len();
        let opened_ms = inner.elapsed_ms();
        let mut refused = false;
        let (app_id, ping) = match inner.apps.get_mut(app_token) {
            Some(app) => {
                if app.knobs.refuse_sockets_next > 0 {
                    app.knobs.refuse_sockets_next -= 1;
                    refused = true;
                }
                app.max_sockets = app.max_sockets.max(open);
                for told in app
                    .disconnects
                    .iter_mut()
                    .filter(|d| d.closed_ms.is_none() && d.replacement.is_none())
                {
                    told.replacement = Some(id);
                }
                (
                    app.identity.app_id.clone(),
                    Duration::from_millis(app.knobs.ping_interval_ms),
                )
            }
            None => (String::new(), Duration::ZERO),
        };
        inner.sockets.insert(
            id,
            SocketRecord {
                id,
                app_id: app_id.clone(),
                opened_ms,
                closed_ms: None,
                ending: None,
                close_received: None,
                envelopes: 0,
                acks: 0,
                other_frames: Vec::new(),
            },
        );
        let hello = if refused {
            json!({ "type": "disconnect", "reason": "too_many_websockets",
                    "debug_info": { "host": "applink-fake-1" } })
        } else {
            json!({ "type": "hello", "num_connections": open,
                    "debug_info": { "host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18_060 },
                    "connection_info": { "app_id": app_id } })
        };
        (id, receiver, hello, ping)
    }

    /// A text frame from the client: an ack, or something recorded as unexpected.
    fn socket_frame(&self, socket: u64, text: &str) {
        let parsed = serde_json::from_str::<Value>(text).ok();
        let mut inner = self.lock();
        match parsed
            .as_ref()
            .and_then(|v| v.get("envelope_id"))
            .and_then(Value::as_str)
        {
            Some(envelope_id) => {
                let payload = parsed.as_ref().and_then(|v| v.get("payload")).cloned();
                inner.ack(socket, envelope_id, payload);
            }
            None => {
                if let Some(record) = inner.sockets.get_mut(&socket)
                    && record.other_frames.len() < KEPT_FRAMES
                {
                    record.other_frames.push(text.to_owned());
                }
            }
        }
    }

    /// The socket is over.
    fn close_socket(&self, socket: u64, ending: Ending, close_received: Option<u16>) {
        let mut inner = self.lock();
        let closed_ms = inner.elapsed_ms();
        let app = inner.live.remove(&socket).map(|s| s.app);
        if let Some(record) = inner.sockets.get_mut(&socket) {
            record.closed_ms = Some(closed_ms);
            record.ending = Some(ending);
            record.close_received = close_received;
        }
        let by_client = matches!(ending, Ending::ClientClosed | Ending::ClientVanished);
        if let Some(app) = app.and_then(|token| inner.apps.get_mut(&token)) {
            for told in app.disconnects.iter_mut().filter(|d| d.socket == socket) {
                told.closed_ms = Some(closed_ms);
                told.closed_by_client = Some(by_client);
            }
        }
    }
}

async fn serve(mut socket: WebSocket, app: String, world: World, shutdown: CancellationToken) {
    let (id, mut commands, hello, ping) = world.open_socket(&app);
    world.wake.notify_one();
    tracing::debug!(socket = id, "socket mode connection");
    let refused = hello.get("type").and_then(Value::as_str) == Some("disconnect");
    let (ending, close_received) = if refused {
        // Slack closes a socket it refused right after saying why.
        let _ = send(&mut socket, &hello).await;
        let _ = socket.send(Message::Close(None)).await;
        (Ending::ServerClosed, None)
    } else if send(&mut socket, &hello).await {
        converse(&mut socket, id, &mut commands, &world, &shutdown, ping).await
    } else {
        (Ending::ClientVanished, None)
    };
    world.close_socket(id, ending, close_received);
    // Envelopes in flight on it are redelivered elsewhere once their ack is overdue.
    world.wake.notify_one();
}

async fn converse(
    socket: &mut WebSocket,
    id: u64,
    commands: &mut UnboundedReceiver<SocketCommand>,
    world: &World,
    shutdown: &CancellationToken,
    ping: Duration,
) -> (Ending, Option<u16>) {
    let mut close_at: Option<Instant> = None;
    let mut pings =
        (!ping.is_zero()).then(|| tokio::time::interval_at(Instant::now() + ping, ping));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return (Ending::Shutdown, None),
            () = sleep_until(close_at) => {
                let close_frame = CloseFrame { code: GOING_AWAY, reason: "disconnect".into() };
                let _ = socket.send(Message::Close(Some(close_frame))).await;
                return (Ending::ServerClosed, None);
            }
            () = tick(&mut pings) => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return (Ending::ClientVanished, None);
                }
            }
            command = commands.recv() => match command {
                None | Some(SocketCommand::Drop) => return (Ending::ServerDropped, None),
                Some(SocketCommand::Send(frame)) => {
                    if !send(socket, &frame).await {
                        return (Ending::ClientVanished, None);
                    }
                }
                Some(SocketCommand::SendThenClose(frame, grace)) => {
                    if !send(socket, &frame).await {
                        return (Ending::ClientVanished, None);
                    }
                    close_at.get_or_insert(Instant::now() + grace);
                }
                Some(SocketCommand::Silent) => return (silence(commands, shutdown).await, None),
            },
            message = socket.recv() => match message {
                None | Some(Err(_)) => return (Ending::ClientVanished, None),
                Some(Ok(Message::Close(close_frame))) => return (Ending::ClientClosed, close_frame.map(|f| f.code)),
                Some(Ok(Message::Text(text))) => world.socket_frame(id, text.as_str()),
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Neither reads nor writes until dropped (or shutdown).
async fn silence(
    commands: &mut UnboundedReceiver<SocketCommand>,
    shutdown: &CancellationToken,
) -> Ending {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ending::Shutdown,
            command = commands.recv() => match command {
                None | Some(SocketCommand::Drop) => return Ending::ServerDropped,
                Some(_) => {}
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn send(socket: &mut WebSocket, frame: &Value) -> bool {
    socket.send(Message::text(frame.to_string())).await.is_ok()
}
