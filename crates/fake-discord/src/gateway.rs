//! The gateway's WebSocket side: one task per connection sends HELLO, feeds client frames to the
//! protocol (`sessions.rs`) and carries out orders from tests (dispatches, op 7/9, closes, drops,
//! silence). Only text frames with JSON are spoken (`encoding=json`, no compression).

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::records::Ending;
use crate::sessions::{Outgoing, frame};
use crate::state::{ConnCommand, World};

/// How long the fake waits for the client's answer to its close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

/// Accepts the upgrade of a gateway connection dialled at `path`.
pub fn accept(
    ws: WebSocketUpgrade,
    path: String,
    query: String,
    world: World,
    shutdown: CancellationToken,
) -> Response {
    ws.on_upgrade(move |socket| serve(socket, path, query, world, shutdown))
}

async fn serve(
    mut socket: WebSocket,
    path: String,
    query: String,
    world: World,
    shutdown: CancellationToken,
) {
    let (conn, mut commands, hello) = world.open_connection(&path, &query);
    tracing::debug!(conn, %path, "gateway connection");
    let ending = if send(&mut socket, &hello).await {
        converse(&mut socket, conn, &mut commands, &world, &shutdown).await
    } else {
        Ending::ClientVanished
    };
    tracing::debug!(conn, ?ending, "gateway connection over");
    world.end_connection(conn, ending);
}

/// The connection's life after HELLO; returns how it ended.
async fn converse(
    socket: &mut WebSocket,
    conn: u64,
    commands: &mut UnboundedReceiver<ConnCommand>,
    world: &World,
    shutdown: &CancellationToken,
) -> Ending {
    // Set by op 7: Discord closes a connection it asked to reconnect if the client lingers.
    let mut close_at: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ending::Shutdown,
            () = sleep_until(close_at) => {
                return close(socket, conn, world, 4000, "Reconnect requested.").await;
            }
            command = commands.recv() => match command {
                None | Some(ConnCommand::Drop) => return Ending::ServerDropped,
                Some(ConnCommand::Send(payload)) => {
                    if !send(socket, &payload).await {
                        return Ending::ClientVanished;
                    }
                }
                Some(ConnCommand::SendThenClose(payload, grace)) => {
                    if !send(socket, &payload).await {
                        return Ending::ClientVanished;
                    }
                    close_at.get_or_insert(Instant::now() + grace);
                }
                Some(ConnCommand::Close(code, reason)) => return close(socket, conn, world, code, &reason).await,
                Some(ConnCommand::Silent) => return silence(commands, shutdown).await,
            },
            message = socket.recv() => match message {
                None | Some(Err(_)) => return Ending::ClientVanished,
                Some(Ok(Message::Close(close_frame))) => {
                    world.client_closed(conn, close_frame.map(|f| f.code));
                    return Ending::ClientClosed;
                }
                Some(Ok(Message::Text(text))) => {
                    for outgoing in world.client_frame(conn, text.as_str()) {
                        match outgoing {
                            Outgoing::Frame(payload) => {
                                if !send(socket, &payload).await {
                                    return Ending::ClientVanished;
                                }
                            }
                            Outgoing::Close(code, reason) => return close(socket, conn, world, code, reason).await,
                        }
                    }
                }
                // We negotiated `encoding=json`: binary (ETF, zlib) is not spoken.
                Some(Ok(Message::Binary(_))) => {
                    return close(socket, conn, world, 4002, "Error while decoding payload.").await;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Neither reads nor writes (so not even pongs go out) until told to drop, or shutdown.
async fn silence(
    commands: &mut UnboundedReceiver<ConnCommand>,
    shutdown: &CancellationToken,
) -> Ending {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ending::Shutdown,
            command = commands.recv() => match command {
                None | Some(ConnCommand::Drop | ConnCommand::Close(..)) => return Ending::ServerDropped,
                Some(_) => {}
            },
        }
    }
}

/// Sends a close frame and waits briefly for the client's.
async fn close(
    socket: &mut WebSocket,
    conn: u64,
    world: &World,
    code: u16,
    reason: &str,
) -> Ending {
    world.closing(conn, code);
    let close_frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(close_frame))).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(message)) = socket.recv().await {
                if let Message::Close(answer) = message {
                    world.client_closed(conn, answer.map(|f| f.code));
                    break;
                }
            }
        })
        .await;
    }
    Ending::ServerClosed
}

/// Sends a JSON frame; false when the client is gone.
async fn send(socket: &mut WebSocket, payload: &serde_json::Value) -> bool {
    socket
        .send(Message::text(payload.to_string()))
        .await
        .is_ok()
}

/// A frame asking the client to send a heartbeat now (server op 1).
pub fn heartbeat_request() -> serde_json::Value {
    frame(1, serde_json::Value::Null)
}
