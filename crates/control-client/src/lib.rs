//! A client of the gateway's control WebSocket (`docs/control-protocol.md`), used by `pincer`, the
//! system tests and `pincer-bench`. Failures are values, never panics: a refused sign-in is
//! [`Refused`], a failed call is the error object (`{code, message, ...}`; a dropped socket is
//! `{"code":"CLOSED"}`).

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Patience for one answer.
const PATIENCE: Duration = Duration::from_secs(30);

/// Scopes of a full operator.
pub const ALL_SCOPES: [&str; 4] = [
    "operator.read",
    "operator.write",
    "operator.pairing",
    "operator.admin",
];

/// A signed-in connection.
#[derive(Debug)]
pub struct ControlClient {
    socket: Socket,
    next_id: u64,
    /// Events received while waiting for responses, oldest first.
    pub events: VecDeque<Value>,
    /// The `hello-ok` payload.
    pub hello: Value,
}

/// How a connection ended or was refused.
#[derive(Debug)]
pub enum Refused {
    /// The upgrade itself was refused with this HTTP status.
    Http(u16),
    /// The `connect` request got this error frame (`{code, message, ...}`).
    Error(Value),
    /// Something else (I/O, protocol).
    Other(String),
}

/// Opens the socket at `ws_url` (`ws://host:port/ws`) with extra request headers.
pub async fn open(ws_url: &str, headers: &[(&str, &str)]) -> Result<Socket, Refused> {
    let mut request = ws_url
        .into_client_request()
        .map_err(|e| Refused::Other(e.to_string()))?;
    for (name, value) in headers {
        request.headers_mut().insert(
            http_name(name)?,
            value
                .parse()
                .map_err(|_| Refused::Other(format!("bad header {name}")))?,
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(Refused::Http(response.status().as_u16()))
        }
        Err(error) => Err(Refused::Other(error.to_string())),
    }
}

fn http_name(name: &str) -> Result<tokio_tungstenite::tungstenite::http::HeaderName, Refused> {
    tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Refused::Other(format!("bad header name {name}")))
}

/// The error value of a call on a socket that is gone.
fn closed(detail: &str) -> Value {
    json!({ "code": "CLOSED", "message": format!("the control connection closed ({detail})") })
}

/// Reads the next text frame as JSON (`None` when the socket closed; the close frame is returned
/// as `{"close": code, "reason": ...}`).
pub async fn read_json(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.ok()??;
        match message {
            Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
            Ok(Message::Close(frame)) => {
                return Some(json!({
                    "close": frame.as_ref().map(|f| u16::from(f.code)),
                    "reason": frame.as_ref().map(|f| f.reason.to_string()),
                }));
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// The `connect` request with `auth` (e.g. `{"token": "..."}`) and `scopes`.
pub fn connect_frame(auth: Value, scopes: &[&str]) -> Value {
    json!({
        "type": "req", "id": "connect", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            // OpenClaw's names for a command-line client.
            "client": {
                "id": "cli", "version": env!("CARGO_PKG_VERSION"),
                "platform": std::env::consts::OS, "mode": "cli",
            },
            "role": "operator", "scopes": scopes, "auth": auth,
        }
    })
}

impl ControlClient {
    /// Connects and signs in with `token`, asking for `scopes`.
    pub async fn connect(ws_url: &str, token: &str, scopes: &[&str]) -> Result<Self, Refused> {
        Self::connect_with(ws_url, &[], json!({ "token": token }), scopes).await
    }

    /// Connects with extra headers and an arbitrary `auth` object.
    pub async fn connect_with(
        ws_url: &str,
        headers: &[(&str, &str)],
        auth: Value,
        scopes: &[&str],
    ) -> Result<Self, Refused> {
        let mut socket = open(ws_url, headers).await?;
        let challenge = read_json(&mut socket)
            .await
            .ok_or_else(|| Refused::Other("no challenge".into()))?;
        if challenge["event"] != "connect.challenge" {
            return Err(Refused::Other(format!(
                "first frame was not the challenge: {challenge}"
            )));
        }
        // Answer this connection's challenge: the gateway refuses a connect that names another.
        let mut frame = connect_frame(auth, scopes);
        frame["params"]["nonce"] = challenge["payload"]["nonce"].clone();
        socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| Refused::Other(e.to_string()))?;
        let answer = read_json(&mut socket)
            .await
            .ok_or_else(|| Refused::Other("no answer to connect".into()))?;
        if answer["ok"] != true {
            return Err(Refused::Error(answer["error"].clone()));
        }
        Ok(Self {
            socket,
            next_id: 0,
            events: VecDeque::new(),
            hello: answer["payload"].clone(),
        })
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send(&mut self, method: &str, params: Value) -> Result<String, Value> {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| closed(&e.to_string()))?;
        Ok(id)
    }

    /// Sends raw text; `false` once the gateway closed the socket.
    pub async fn send_raw(&mut self, text: &str) -> bool {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .is_ok()
    }

    /// Reads frames until the response to `id`; events are kept in [`ControlClient::events`].
    pub async fn response(&mut self, id: &str) -> Result<Value, Value> {
        loop {
            let frame = self
                .read()
                .await
                .ok_or_else(|| closed(&format!("no answer to {id}")))?;
            if frame.get("close").is_some() {
                return Err(closed(&frame.to_string()));
            }
            if frame["type"] == "res" && frame["id"] == id {
                return Ok(frame);
            }
            if frame["type"] == "event" {
                self.events.push_back(frame);
            }
        }
    }

    /// Calls a method: `Ok(payload)` or `Err(error)`.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send(method, params).await?;
        let response = self.response(&id).await?;
        if response["ok"] == true {
            Ok(response["payload"].clone())
        } else {
            Err(response["error"].clone())
        }
    }

    /// The next event named `name` (earlier ones of other names are kept).
    pub async fn event(&mut self, name: &str) -> Result<Value, Value> {
        if let Some(index) = self.events.iter().position(|e| e["event"] == name) {
            return self
                .events
                .remove(index)
                .ok_or_else(|| closed("event queue"));
        }
        loop {
            let frame = self
                .read()
                .await
                .ok_or_else(|| closed(&format!("waiting for {name}")))?;
            if frame["type"] == "event" {
                if frame["event"] == name {
                    return Ok(frame);
                }
                self.events.push_back(frame);
            } else if frame.get("close").is_some() {
                return Err(closed(&frame.to_string()));
            }
        }
    }

    /// The next frame (`None` when the socket closed).
    pub async fn read(&mut self) -> Option<Value> {
        read_json(&mut self.socket).await
    }
}
