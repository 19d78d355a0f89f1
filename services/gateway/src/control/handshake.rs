//! Signing a control connection in: the challenge, the `connect` request and its checks, the
//! credential's scopes, and `hello-ok`. Also the bound on sockets that have not signed in yet.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Services;
use super::conn::{Conn, close};
use super::frame::{self, Code, ErrorShape, PROTOCOL};
use super::limits::{
    HANDSHAKE_TIMEOUT, MAX_HANDSHAKES, MAX_HANDSHAKES_PER_ADDRESS, MAX_PAYLOAD_BYTES,
    MAX_PREAUTH_BYTES, OUTBOUND_FRAMES, TICK,
};
use crate::auth::guard::{Guard, Refusal};
use crate::auth::{ClientAddr, Credential, Scope, Scopes};

type Sink = SplitSink<WebSocket, Message>;

/// Who is asking: the socket's peer and the upgrade request's headers.
pub(super) struct Caller<'a> {
    pub guard: &'a Guard,
    pub client: &'a ClientAddr,
    pub headers: &'a http::HeaderMap,
}

/// A signed-in connection and the queue its frames go out through.
pub(super) struct SignedIn {
    pub conn: Arc<Conn>,
    pub outbox: mpsc::Receiver<Message>,
}

/// Why a handshake ended without a connection.
enum Refused {
    /// The socket closed or failed: nobody to answer.
    Gone,
    /// Answer request `id` with `error`, then close.
    Answer { id: String, error: ErrorShape },
}

impl Refused {
    fn to(id: &str, error: ErrorShape) -> Self {
        Self::Answer {
            id: id.to_owned(),
            error,
        }
    }
}

/// Runs the handshake on a fresh socket; `None` when the client was refused (it has been told why)
/// or went away.
pub(super) async fn sign_in(
    sink: &mut Sink,
    stream: &mut SplitStream<WebSocket>,
    services: &Services,
    caller: Caller<'_>,
) -> Option<SignedIn> {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let challenge = frame::event(
        "connect.challenge",
        &json!({ "nonce": nonce, "ts": pincer_clock::now_ms() }),
        0,
    );
    sink.send(Message::Text(challenge.into())).await.ok()?;
    let admitted = match admit(stream, &nonce, &caller, services).await {
        Ok(admitted) => admitted,
        Err(Refused::Gone) => return None,
        Err(Refused::Answer { id, error }) => {
            refuse(sink, &id, error).await;
            return None;
        }
    };
    let conn_id = uuid::Uuid::new_v4().simple().to_string();
    let (conn, outbox) = Conn::new(conn_id, admitted.scopes, admitted.credential);
    tracing::info!(conn = %conn.id, client = %admitted.client_name, peer = %caller.client.ip, who = %admitted.who, "control client signed in");
    let hello = hello(services, &conn);
    sink.send(Message::Text(frame::ok(&admitted.request_id, hello).into()))
        .await
        .ok()?;
    Some(SignedIn {
        conn: Arc::new(conn),
        outbox,
    })
}

/// A `connect` request that passed every check.
struct Admitted {
    request_id: String,
    who: String,
    credential: Credential,
    scopes: Scopes,
    client_name: String,
}

/// Reads the first frame, which must be a `connect` answering `nonce`, and admits its credential.
async fn admit(
    stream: &mut SplitStream<WebSocket>,
    nonce: &str,
    caller: &Caller<'_>,
    services: &Services,
) -> Result<Admitted, Refused> {
    let text = match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) if text.len() <= MAX_PREAUTH_BYTES => text,
        Ok(Some(Ok(Message::Text(_) | Message::Binary(_)))) => {
            return Err(Refused::to(
                "?",
                ErrorShape::invalid("the first frame must be a connect request under 64 KiB"),
            ));
        }
        Err(_) => {
            return Err(Refused::to(
                "?",
                ErrorShape::invalid("no connect request within 15s"),
            ));
        }
        _ => return Err(Refused::Gone),
    };
    let request = frame::parse(&text).map_err(|error| Refused::to("?", error))?;
    if request.method != "connect" {
        let error = ErrorShape::invalid(format!(
            "the first request must be \"connect\", not {:?}",
            request.method
        ));
        return Err(Refused::to(&request.id, error));
    }
    let params: ConnectParams =
        frame::params(&request.params).map_err(|error| Refused::to(&request.id, error))?;
    let asked = params
        .check(nonce)
        .map_err(|error| Refused::to(&request.id, error))?;
    let signed_in = match tailscale_login(services, caller, params.secret()).await {
        Some(verified) => caller.guard.admit_tailscale(caller.client, verified),
        None => caller
            .guard
            .admit_connect(caller.client, caller.headers, params.secret()),
    };
    let (who, credential) = signed_in
        .map_err(|refusal| Refused::to(&request.id, connect_refusal(refusal, &params.auth)))?;
    // What the client asks for, as far as its credential allows.
    let allowed = credential.allowed_scopes(caller.guard.has_admin_token());
    let scopes = asked
        .into_iter()
        .filter(|scope| allowed.contains(scope))
        .collect();
    Ok(Admitted {
        request_id: request.id,
        who,
        credential,
        scopes: Scopes::new(scopes),
        client_name: params.client_name(),
    })
}

/// With `gateway.auth.allowTailscale`, a sign-in without a secret that Tailscale Serve proxied:
/// whether `tailscale whois` gives its tailnet address the login Serve put in the headers.
/// `None` for every other sign-in (they present a secret as usual).
async fn tailscale_login(
    services: &Services,
    caller: &Caller<'_>,
    secret: Option<&str>,
) -> Option<Result<String, String>> {
    let tailscale = services.tailscale_identity.as_ref()?;
    if secret.is_some_and(|s| !s.is_empty()) {
        return None;
    }
    let (ip, claimed) = crate::tailscale::serve_request(caller.client.peer, caller.headers)?;
    Some(match tailscale.whois(ip).await {
        Ok(login) if login.eq_ignore_ascii_case(&claimed) => Ok(login),
        Ok(login) => Err(format!(
            "{ip} belongs to {login}, not to the {claimed} the headers name"
        )),
        Err(error) => Err(error.to_string()),
    })
}

/// `hello-ok`: what the connection may do and how it is paced.
fn hello(services: &Services, conn: &Conn) -> Value {
    json!({
        "type": "hello-ok",
        "protocol": PROTOCOL,
        "server": { "version": env!("CARGO_PKG_VERSION"), "connId": conn.id },
        "features": { "methods": super::methods::Method::names(), "events": ["connect.challenge", "tick", "chat", "shutdown"] },
        // OpenClaw's snapshot: no presence or health are tracked here (no such events are sent),
        // so both stay empty at version 0.
        "snapshot": {
            "presence": [],
            "health": {},
            "stateVersion": { "presence": 0, "health": 0 },
            "uptimeMs": services.started.elapsed().as_millis() as u64,
        },
        "auth": { "role": "operator", "scopes": conn.scopes.names() },
        "policy": {
            "maxPayload": MAX_PAYLOAD_BYTES,
            "maxBufferedBytes": OUTBOUND_FRAMES * MAX_PAYLOAD_BYTES,
            "tickIntervalMs": TICK.as_millis() as u64,
        },
    })
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

impl ConnectParams {
    /// Checks what does not depend on the credential; the scopes asked for (`operator.read` when
    /// none are named).
    fn check(&self, nonce: &str) -> Result<Vec<Scope>, ErrorShape> {
        if self.min_protocol > PROTOCOL || self.max_protocol < PROTOCOL {
            return Err(ErrorShape {
                // OpenClaw's clients stop reconnecting on this code instead of retrying forever.
                details: Some(json!({ "code": "PROTOCOL_MISMATCH", "expectedProtocol": PROTOCOL })),
                ..ErrorShape::invalid(format!(
                    "protocol {}..{} is not supported; this gateway speaks {PROTOCOL}",
                    self.min_protocol, self.max_protocol
                ))
            });
        }
        // A connect frame captured on another connection answers another challenge.
        let answered = self
            .device
            .as_ref()
            .and_then(|device| device.nonce.as_deref())
            .or(self.nonce.as_deref());
        if answered.is_some_and(|answered| answered != nonce) {
            return Err(ErrorShape::invalid(
                "the connect request answers another connection's challenge",
            ));
        }
        if self.role != "operator" {
            return Err(ErrorShape::invalid(format!(
                "role {:?} is not served here; use \"operator\"",
                self.role
            )));
        }
        // Scopes of OpenClaw's that this gateway has no methods for (`operator.approvals`,
        // `operator.talk`, ...) are not granted, and do not refuse the connection: OpenClaw's own
        // clients ask for them.
        let known: Vec<Scope> = self
            .scopes
            .iter()
            .filter_map(|name| {
                let scope = Scope::parse(name);
                if scope.is_none() {
                    tracing::debug!(scope = %name, "scope not served here; not granted");
                }
                scope
            })
            .collect();
        if known.is_empty() {
            return Ok(vec![Scope::Read]);
        }
        Ok(known)
    }

    /// The token or password presented.
    fn secret(&self) -> Option<&str> {
        self.auth.token.as_deref().or(self.auth.password.as_deref())
    }

    /// `client.id`, cut to 64 characters, for the log.
    fn client_name(&self) -> String {
        self.client
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .chars()
            .take(64)
            .collect()
    }
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

async fn refuse(sink: &mut Sink, id: &str, error: ErrorShape) {
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

/// A refused `connect`, with the `details.code` OpenClaw's clients read to decide whether
/// retrying can help (a wrong or missing secret, a rate limit: it cannot, so they stop).
fn connect_refusal(refusal: Refusal, auth: &ConnectAuth) -> ErrorShape {
    let code = match (&refusal, auth.token.as_deref(), auth.password.as_deref()) {
        (Refusal::Unauthorized, Some(token), _) if !token.is_empty() => "AUTH_TOKEN_MISMATCH",
        (Refusal::Unauthorized, _, Some(password)) if !password.is_empty() => {
            "AUTH_PASSWORD_MISMATCH"
        }
        (Refusal::Unauthorized, _, _) => "AUTH_TOKEN_MISSING",
        (Refusal::RateLimited(_), _, _) => "AUTH_RATE_LIMITED",
        (Refusal::Forbidden(_), _, _) => "AUTH_UNAUTHORIZED",
    };
    ErrorShape {
        details: Some(json!({ "code": code })),
        ..refusal_error(refusal)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> ConnectParams {
        serde_json::from_value(value).expect("connect params")
    }

    #[test]
    fn a_protocol_out_of_range_says_which_one_is_spoken() {
        let error = params(json!({ "minProtocol": 5, "maxProtocol": 6 }))
            .check("n")
            .expect_err("too new");
        let details = error.details.expect("details");
        assert_eq!(details["code"], "PROTOCOL_MISMATCH");
        assert_eq!(details["expectedProtocol"], PROTOCOL);
    }

    #[test]
    fn scopes_not_served_here_are_not_granted() {
        let asked = |scopes: Value| {
            params(json!({ "minProtocol": PROTOCOL, "maxProtocol": PROTOCOL, "scopes": scopes }))
                .check("n")
                .expect("admitted")
        };
        assert_eq!(
            asked(json!(["operator.talk", "operator.write"])),
            [Scope::Write]
        );
        assert_eq!(asked(json!(["operator.approvals"])), [Scope::Read]);
    }

    #[test]
    fn refused_secrets_carry_openclaw_s_detail_codes() {
        let code = |refusal: Refusal, auth: Value| {
            let auth: ConnectAuth = serde_json::from_value(auth).expect("auth");
            connect_refusal(refusal, &auth).details.expect("details")["code"].clone()
        };
        assert_eq!(
            code(Refusal::Unauthorized, json!({ "token": "x" })),
            "AUTH_TOKEN_MISMATCH"
        );
        assert_eq!(
            code(Refusal::Unauthorized, json!({ "password": "x" })),
            "AUTH_PASSWORD_MISMATCH"
        );
        assert_eq!(code(Refusal::Unauthorized, json!({})), "AUTH_TOKEN_MISSING");
        let limited = code(
            Refusal::RateLimited(std::time::Duration::from_secs(3)),
            json!({ "token": "x" }),
        );
        assert_eq!(limited, "AUTH_RATE_LIMITED");
    }
}
