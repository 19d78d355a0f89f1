//! One bot's connection to Discord's gateway (v10, JSON, no compression): HELLO, IDENTIFY or
//! RESUME, heartbeats, and every dispatch handed on in order.
//!
//! Reconnecting follows Discord's rules: resume first (after op 7, op 9 `true`, a dropped or
//! abnormally closed socket, a silent one), identify anew when the session is invalid (op 9
//! `false`, close 4007/4009), stop for good on a fatal close (4004 bad token, 4010–4014, of which
//! 4014 is the Message Content intent not being enabled), with backoff and jitter between
//! attempts. A watchdog notices a socket that is dead but looks open: a heartbeat whose ACK never
//! came, or no frame at all for two heartbeat intervals, is a zombie connection and is replaced.
//! On shutdown the socket is closed with 4000, which keeps the session resumable for the next
//! process (1000 would end it).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use super::rest::{Rest, RestError};
use crate::channel::health::AccountHealth;

/// GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT.
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);

/// Longest wait for the socket to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A gateway session that can be resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// `session_id` from READY.
    pub id: String,
    /// `resume_gateway_url` from READY.
    pub resume_url: String,
    /// The last sequence number received (or, when stored, handled).
    pub seq: u64,
}

/// An op 0 frame.
#[derive(Clone, Debug)]
pub struct Dispatch {
    /// `t`: `READY`, `MESSAGE_CREATE`, ...
    pub kind: String,
    /// `d`.
    pub data: Value,
    /// `s`.
    pub seq: u64,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Stop this account: the token or its settings will never work.
    Fatal(String),
    /// Connect again; `resume`: the session is still valid.
    Reconnect {
        resume: bool,
        reason: String,
        /// The connection got as far as READY or RESUMED (the backoff starts over).
        was_ready: bool,
    },
    /// Shutdown.
    Shutdown,
}

/// What a close code means for the next attempt.
fn on_close(code: u16, reason: &str, was_ready: bool) -> Ended {
    let detail = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    match code {
        4004 => Ended::Fatal(format!(
            "Discord refused the bot token (close 4004{detail}); check channels.discord.token"
        )),
        4014 => Ended::Fatal(format!(
            "Discord refused the intents (close 4014{detail}): enable the Message Content intent for this bot in the Discord developer portal"
        )),
        4010..=4013 => Ended::Fatal(format!(
            "Discord closed the gateway for good (close {code}{detail})"
        )),
        4007 | 4009 => Ended::Reconnect {
            resume: false,
            reason: format!("session no longer valid (close {code}{detail})"),
            was_ready,
        },
        _ => Ended::Reconnect {
            resume: true,
            reason: format!("gateway closed (close {code}{detail})"),
            was_ready,
        },
    }
}

/// Keeps one connection to the gateway until `shutdown` or a fatal close, reconnecting as Discord
/// asks. `session` is one to resume (stored by a previous process); every dispatch goes to
/// `dispatches` in order.
pub async fn run(
    rest: &Rest,
    token: &str,
    mut session: Option<Session>,
    dispatches: mpsc::Sender<Dispatch>,
    health: &AccountHealth,
    shutdown: &CancellationToken,
) {
    let mut gateway_url: Option<String> = None;
    let mut failures = 0u32;
    let mut resume_url_failures = 0u32;
    while !shutdown.is_cancelled() {
        let url = match session.as_ref().filter(|_| resume_url_failures < 2) {
            Some(session) => session.resume_url.clone(),
            None => match gateway_url.clone() {
                Some(url) => url,
                None => match rest.gateway_url().await {
                    Ok(url) => {
                        gateway_url = Some(url.clone());
                        url
                    }
                    Err(RestError::Unauthorized) => {
                        health
                            .failed("Discord refused the bot token (401 on /gateway/bot); check channels.discord.token")
                            .await;
                        return;
                    }
                    Err(error) => {
                        failures += 1;
                        health
                            .retrying(&format!("cannot get the gateway URL: {error}"))
                            .await;
                        pause(shutdown, backoff(failures)).await;
                        continue;
                    }
                },
            },
        };
        health
            .connecting(if session.is_some() {
                "resuming"
            } else {
                "identifying"
            })
            .await;
        let ended = connect(&url, token, &mut session, &dispatches, health, shutdown).await;
        let (resume, reason, was_ready) = match ended {
            Ended::Shutdown => return,
            Ended::Fatal(reason) => {
                health.failed(&reason).await;
                return;
            }
            Ended::Reconnect {
                resume,
                reason,
                was_ready,
            } => (resume, reason, was_ready),
        };
        tracing::info!(%reason, resume, "discord gateway connection ended; reconnecting");
        let invalid_session = !resume && session.is_some();
        if !resume {
            session = None;
        }
        if was_ready {
            failures = 0;
            resume_url_failures = 0;
        } else {
            failures += 1;
            if session.is_some() {
                resume_url_failures += 1;
            }
            if failures.is_multiple_of(3) {
                // The cached URL may be stale: ask for it again.
                gateway_url = None;
            }
        }
        health.retrying(&reason).await;
        let wait = if invalid_session {
            // Discord asks for a random 1–5 s before identifying after an invalid session.
            Duration::from_millis(1000 + fastrand::u64(0..4000))
        } else {
            backoff(failures)
        };
        pause(shutdown, wait).await;
    }
}

/// Exponential with jitter: ~0.25 s after a good connection, then 1, 2, 4 ... 60 s.
fn backoff(failures: u32) -> Duration {
    let base = if failures == 0 {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
    };
    base + Duration::from_millis(fastrand::u64(0..=base.as_millis() as u64 / 4))
}

async fn pause(shutdown: &CancellationToken, wait: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// The URL of a connection: the gateway's (or resume) URL with the version and encoding.
fn connect_url(url: &str) -> String {
    format!("{}/?v=10&encoding=json", url.trim_end_matches('/'))
}

/// One connection, from the handshake to its end.
async fn connect(
    url: &str,
    token: &str,
    session: &mut Option<Session>,
    dispatches: &mpsc::Sender<Dispatch>,
    health: &AccountHealth,
    shutdown: &CancellationToken,
) -> Ended {
    let opened = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async(connect_url(url)),
    )
    .await;
    let socket = match opened {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(error)) => {
            return Ended::Reconnect {
                resume: true,
                reason: format!("cannot open the gateway socket: {error}"),
                was_ready: false,
            };
        }
        Err(_) => {
            return Ended::Reconnect {
                resume: true,
                reason: "the gateway socket did not open in time".to_owned(),
                was_ready: false,
            };
        }
    };
    let (mut write, mut read) = socket.split();
    let token = token.trim();
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    let mut interval: Option<Duration> = None;
    let mut next_beat = Instant::now() + Duration::from_secs(3600);
    let mut awaiting_ack = false;
    let mut last_frame = Instant::now();
    let mut was_ready = false;
    let reconnect = |resume: bool, reason: &str, was_ready: bool| Ended::Reconnect {
        resume,
        reason: reason.to_owned(),
        was_ready,
    };
    loop {
        // Before HELLO, wait a while for it; after, two intervals of silence is a dead socket.
        let silence_limit =
            interval.map_or(Duration::from_secs(30), |i| i * 2 + Duration::from_secs(5));
        let ended = tokio::select! {
            () = shutdown.cancelled() => {
                let _ = write.send(close(4000, "shutting down, will resume")).await;
                return Ended::Shutdown;
            }
            () = tokio::time::sleep_until(next_beat), if interval.is_some() => {
                if awaiting_ack {
                    Some(reconnect(true, "no heartbeat ACK since the last heartbeat (zombie connection)", was_ready))
                } else {
                    let seq = session.as_ref().map(|s| s.seq);
                    awaiting_ack = true;
                    next_beat = Instant::now() + interval.unwrap_or_default();
                    send(&mut write, json!({"op": 1, "d": seq})).await
                }
            }
            () = tokio::time::sleep_until(last_frame + silence_limit) => {
                Some(reconnect(true, "nothing from the gateway for two heartbeat intervals", was_ready))
            }
            frame = read.next() => {
                last_frame = Instant::now();
                match frame {
                    None => Some(reconnect(true, "the gateway socket ended", was_ready)),
                    Some(Err(error)) => Some(reconnect(true, &format!("gateway socket error: {error}"), was_ready)),
                    Some(Ok(Message::Close(frame))) => Some(match frame {
                        Some(frame) => on_close(u16::from(frame.code), &frame.reason, was_ready),
                        None => reconnect(true, "the gateway closed the socket", was_ready),
                    }),
                    Some(Ok(Message::Text(text))) => {
                        let frame: Value = match serde_json::from_str(text.as_str()) {
                            Ok(frame) => frame,
                            Err(error) => {
                                tracing::warn!(%error, "unreadable gateway frame ignored");
                                continue;
                            }
                        };
                        let op = frame.get("op").and_then(Value::as_u64);
                        match op {
                            Some(10) => {
                                let every = frame
                                    .pointer("/d/heartbeat_interval")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(41_250)
                                    .max(100);
                                let every = Duration::from_millis(every);
                                interval = Some(every);
                                // The first beat at a random point of the first interval.
                                next_beat = Instant::now() + every.mul_f64(fastrand::f64());
                                let hello = match session.as_ref() {
                                    Some(s) => json!({"op": 6, "d": {"token": token, "session_id": s.id, "seq": s.seq}}),
                                    None => json!({"op": 2, "d": {
                                        "token": token,
                                        "intents": INTENTS,
                                        "properties": {"os": std::env::consts::OS, "browser": "pincer", "device": "pincer"},
                                    }}),
                                };
                                send(&mut write, hello).await
                            }
                            Some(11) => {
                                awaiting_ack = false;
                                None
                            }
                            Some(1) => {
                                // The gateway asks for a heartbeat now.
                                let seq = session.as_ref().map(|s| s.seq);
                                send(&mut write, json!({"op": 1, "d": seq})).await
                            }
                            Some(7) => Some(reconnect(true, "the gateway asked to reconnect (op 7)", was_ready)),
                            Some(9) => {
                                let resumable = frame.get("d").and_then(Value::as_bool).unwrap_or(false);
                                Some(reconnect(resumable, "invalid session (op 9)", was_ready))
                            }
                            Some(0) => {
                                let Some(dispatch) = dispatch(&frame) else { continue };
                                match dispatch.kind.as_str() {
                                    "READY" => {
                                        let id = dispatch.data.get("session_id").and_then(Value::as_str);
                                        let resume_url = dispatch.data.get("resume_gateway_url").and_then(Value::as_str);
                                        *session = id.map(|id| Session {
                                            id: id.to_owned(),
                                            resume_url: resume_url.unwrap_or(url).to_owned(),
                                            seq: dispatch.seq,
                                        });
                                        was_ready = true;
                                        let bot = dispatch.data.pointer("/user/username").and_then(Value::as_str).unwrap_or("?");
                                        health.connected(bot, "gateway session ready").await;
                                    }
                                    "RESUMED" => {
                                        was_ready = true;
                                        health.connected("", "gateway session resumed").await;
                                    }
                                    _ => {}
                                }
                                if let Some(session) = session.as_mut() {
                                    session.seq = session.seq.max(dispatch.seq);
                                }
                                if dispatches.send(dispatch).await.is_err() {
                                    return Ended::Shutdown;
                                }
                                None
                            }
                            _ => None,
                        }
                    }
                    Some(Ok(_)) => None,
                }
            }
        };
        if let Some(ended) = ended {
            if let Ended::Reconnect { .. } = &ended {
                // Not 1000/1001: the session stays resumable.
                let _ = write.send(close(4000, "reconnecting")).await;
            }
            return ended;
        }
    }
}

fn dispatch(frame: &Value) -> Option<Dispatch> {
    Some(Dispatch {
        kind: frame.get("t")?.as_str()?.to_owned(),
        data: frame.get("d").cloned().unwrap_or(Value::Null),
        seq: frame.get("s").and_then(Value::as_u64).unwrap_or(0),
    })
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Sends a frame; a failure ends the connection (to be resumed).
async fn send<S>(write: &mut S, frame: Value) -> Option<Ended>
where
    S: futures::Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
{
    match write.send(Message::Text(frame.to_string().into())).await {
        Ok(()) => None,
        Err(error) => Some(Ended::Reconnect {
            resume: true,
            reason: format!("cannot write to the gateway: {error}"),
            was_ready: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_decide_between_resume_identify_and_stop() {
        assert!(
            matches!(on_close(4004, "", true), Ended::Fatal(reason) if reason.contains("token"))
        );
        assert!(
            matches!(on_close(4014, "", true), Ended::Fatal(reason) if reason.contains("Message Content"))
        );
        assert!(matches!(on_close(4011, "", true), Ended::Fatal(_)));
        assert!(matches!(
            on_close(4009, "", true),
            Ended::Reconnect { resume: false, .. }
        ));
        assert!(matches!(
            on_close(4007, "", true),
            Ended::Reconnect { resume: false, .. }
        ));
        assert!(matches!(
            on_close(4000, "", true),
            Ended::Reconnect { resume: true, .. }
        ));
        assert!(matches!(
            on_close(1006, "", false),
            Ended::Reconnect { resume: true, .. }
        ));
    }

    #[test]
    fn the_url_gets_version_and_encoding_once() {
        assert_eq!(
            connect_url("wss://gateway.discord.gg/"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            connect_url("ws://127.0.0.1:9/resume"),
            "ws://127.0.0.1:9/resume/?v=10&encoding=json"
        );
        assert_eq!(INTENTS, 37377);
    }

    #[test]
    fn backoff_grows_to_a_minute() {
        assert!(backoff(0) < Duration::from_millis(400));
        assert!(backoff(1) >= Duration::from_secs(1));
        assert!(backoff(3) >= Duration::from_secs(4));
        assert!(backoff(30) <= MAX_BACKOFF + MAX_BACKOFF / 4);
    }
}
