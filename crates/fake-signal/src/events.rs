//! `GET /api/v1/events[?account=<number>]`: a `text/event-stream` response that stays open. Each
//! received envelope is written as signal-cli writes it (`event:receive`, `data:<json>`, a blank
//! line) and a `:` keep-alive comment goes out every interval. An `account` the daemon does not
//! have is a 400 with no body; without `account`, the stream carries every account's envelopes.
//! The query is decoded as signal-cli decodes it: a raw `+` stays a `+`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::routes::Daemon;
use crate::state::{Frame, LiveStream, World};

/// The handler.
pub async fn events(State(daemon): State<Daemon>, RawQuery(query): RawQuery) -> Response {
    let account = query.as_deref().and_then(|q| query_value(q, "account"));
    let world = daemon.world;
    let (frames, receiver) = mpsc::unbounded_channel();
    let id = {
        let mut inner = world.lock();
        if let Some(number) = account.as_deref().filter(|n| !n.is_empty())
            && !inner.accounts.contains_key(number)
        {
            return StatusCode::BAD_REQUEST.into_response();
        }
        let id = inner.next_stream_id();
        inner.open_stream(LiveStream {
            id,
            account: account.filter(|n| !n.is_empty()),
            frames: frames.clone(),
        });
        id
    };
    tokio::spawn(keep_alive(world.clone(), frames, daemon.shutdown));
    let body = FrameStream {
        receiver,
        ending: false,
        world,
        id,
    };
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// `name`'s value in a raw query, decoded like signal-cli's `Util.getQueryMap` (`+` kept).
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (percent_decode(key) == name).then(|| percent_decode(&value.replace('+', "%2B")))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes a keep-alive every interval until the stream is gone (a write to a closed connection
/// fails, which is how the daemon learns a client went away).
async fn keep_alive(
    world: World,
    frames: mpsc::UnboundedSender<Frame>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = frames.send(Frame::End);
                return;
            }
            () = tokio::time::sleep(world.keepalive()) => {}
        }
        if frames
            .send(Frame::Bytes(Bytes::from_static(b":\n")))
            .is_err()
        {
            return;
        }
    }
}

/// The response body: frames until the stream ends; dropping it (the client went away, or the
/// stream ended) forgets the stream.
struct FrameStream {
    receiver: mpsc::UnboundedReceiver<Frame>,
    ending: bool,
    world: World,
    id: u64,
}

impl futures::Stream for FrameStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ending {
            return Poll::Ready(None);
        }
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(Frame::Bytes(bytes))) => Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Frame::CutThenEnd(bytes))) => {
                self.ending = true;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Frame::End) | None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for FrameStream {
    fn drop(&mut self) {
        self.world.lock().remove_stream(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_decodes_like_signal_clis() {
        assert_eq!(
            query_value("account=%2B15550001111", "account").as_deref(),
            Some("+15550001111")
        );
        assert_eq!(
            query_value("x=1&account=+15550001111", "account").as_deref(),
            Some("+15550001111")
        );
        assert_eq!(query_value("x=1", "account"), None);
    }
}
