//! One control connection once the socket is upgraded: the handshake, then the read loop and
//! ticks. Requests run as tasks, at most [`IN_FLIGHT`] at once per connection, so a slow method
//! never blocks the reading of the next frame (or of the socket's close).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::Services;
use super::conn::{Conn, close, write_frames};
use super::frame::{self, Code, ErrorShape};
use super::handshake::{self, Caller, HandshakeSlot, SignedIn};
use super::limits::{IN_FLIGHT, MAX_PAYLOAD_BYTES, TICK};
use crate::auth::ClientAddr;
use crate::auth::guard::Guard;

/// Serves one upgraded socket until it closes.
pub async fn serve(
    socket: WebSocket,
    services: Arc<Services>,
    guard: Arc<Guard>,
    client: ClientAddr,
    headers: http::HeaderMap,
    handshake: HandshakeSlot,
) {
    let (mut sink, mut stream) = socket.split();
    let caller = Caller {
        guard: &guard,
        client: &client,
        headers: &headers,
    };
    let Some(SignedIn { conn, outbox }) =
        handshake::sign_in(&mut sink, &mut stream, &services, caller).await
    else {
        return;
    };
    drop(handshake);
    services.connections.fetch_add(1, Ordering::Relaxed);
    let writer = tokio::spawn(write_frames(sink, outbox, Arc::clone(&conn)));
    read_requests(&mut stream, &services, &conn).await;
    conn.closed.cancel();
    // The close handshake (RFC 6455 7.1.1): what the client still sends is read and dropped until
    // it answers the close frame. A socket dropped with unread data is reset by the kernel, and
    // the reset can reach the client before it reads the close frame and its reason.
    let drained = tokio::time::timeout(super::limits::CLOSE_GRACE, drain_until_close(&mut stream));
    let _ = tokio::join!(writer, drained);
    services.connections.fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(conn = %conn.id, "control client gone");
}

/// Reads and drops frames until the client's close frame, or the end of the stream.
async fn drain_until_close(stream: &mut futures::stream::SplitStream<WebSocket>) {
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

/// Reads frames and sends ticks until the client goes, the connection is closed, or the gateway
/// stops.
async fn read_requests(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    services: &Arc<Services>,
    conn: &Arc<Conn>,
) {
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
                        conn.close(close::TOO_BIG, "frame too large");
                        break;
                    }
                    handle(services, conn, &in_flight, &text);
                }
                Some(Ok(Message::Binary(_))) => {
                    conn.respond("?", Err(ErrorShape::invalid("binary frames are not part of the protocol")));
                }
                Some(Ok(_)) => {}
                // The socket's own cap (the same size) stops a frame before it is read whole.
                Some(Err(error)) if is_too_big(&error) => {
                    conn.close(close::TOO_BIG, "frame too large");
                    break;
                }
                Some(Err(_)) | None => break,
            },
        }
    }
}

/// Whether a read failed because the frame was over the socket's size cap (tungstenite's
/// capacity error: "Space limit exceeded: Message too long").
fn is_too_big(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded") || text.contains("too long")
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
