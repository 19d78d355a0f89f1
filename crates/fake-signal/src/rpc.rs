//! `POST /api/v1/rpc`: JSON-RPC 2.0 as signal-cli's HTTP daemon speaks it. One request or a
//! batch; the answer is 200 with the response(s), or 201 with no body when only notifications
//! came. A body that is not `application/json` is a 415. Errors: -32700 unparseable, -32600 no
//! `method` (or `params` not an object), -32601 a method the daemon does not have, -32602 an
//! account it does not have (or none named while it has several) and params of the wrong type;
//! then signal-cli's own: -1 user error, -4 untrusted identity, -5 rate limit, -32603 an
//! exception inside. Like a daemon started without `-a`, every account-bound method finds its
//! account by the `account` param.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::knobs::Fault;
use crate::methods;
use crate::routes::Daemon;
use crate::state::Inner;

/// JSON-RPC: unparseable.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: wrong params.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: an exception inside.
pub const INTERNAL_ERROR: i64 = -32603;
/// signal-cli: the user asked for something that cannot be done.
pub const USER_ERROR: i64 = -1;
/// signal-cli: rate limited.
pub const RATE_LIMIT_ERROR: i64 = -5;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Its code.
    pub code: i64,
    /// Its message.
    pub message: String,
    /// Its data (`{"response": …}` for a failed send).
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// A user error (-1).
    pub fn user(message: impl Into<String>) -> Self {
        Self::new(USER_ERROR, message)
    }

    /// Wrong params (-32602).
    pub fn params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }
}

/// The methods, the account-bound ones first.
const ACCOUNT_METHODS: [&str; 4] = ["send", "sendTyping", "getAttachment", "version"];

/// The handler.
pub async fn rpc(State(daemon): State<Daemon>, headers: HeaderMap, body: Bytes) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(error) => {
            let error = RpcError::new(PARSE_ERROR, format!("Failed to parse JSON: {error}"));
            return Json(response(&Value::Null, Err(error))).into_response();
        }
    };
    let mut inner = daemon.world.lock();
    match parsed {
        Value::Array(requests) => {
            let mut answers = Vec::new();
            for request in &requests {
                match one(&mut inner, request) {
                    Answer::Json(answer) => answers.push(answer),
                    Answer::Http(status) => return status.into_response(),
                    Answer::Nothing => {}
                }
            }
            if answers.is_empty() {
                StatusCode::CREATED.into_response()
            } else {
                Json(Value::Array(answers)).into_response()
            }
        }
        request => match one(&mut inner, &request) {
            Answer::Json(answer) => Json(answer).into_response(),
            Answer::Http(status) => status.into_response(),
            Answer::Nothing => StatusCode::CREATED.into_response(),
        },
    }
}

enum Answer {
    Json(Value),
    /// A forced HTTP failure.
    Http(StatusCode),
    /// A notification.
    Nothing,
}

fn one(inner: &mut Inner, request: &Value) -> Answer {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let notification = request.get("id").is_none();
    let outcome = match call(inner, request) {
        Err(Call::Http(status)) => return Answer::Http(status),
        Err(Call::Rpc(error)) => Err(error),
        Ok(result) => Ok(result),
    };
    if notification {
        return Answer::Nothing;
    }
    Answer::Json(response(&id, outcome))
}

enum Call {
    Rpc(RpcError),
    Http(StatusCode),
}

impl From<RpcError> for Call {
    fn from(error: RpcError) -> Self {
        Call::Rpc(error)
    }
}

fn call(inner: &mut Inner, request: &Value) -> Result<Value, Call> {
    let Some(request) = request.as_object() else {
        return Err(RpcError::new(INVALID_REQUEST, "request must be an object").into());
    };
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return Err(RpcError::new(INVALID_REQUEST, "method field must be set").into());
    };
    let mut params = match request.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params.clone(),
        Some(_) => return Err(RpcError::new(INVALID_REQUEST, "params must be an object").into()),
    };
    if method == "listAccounts" {
        let numbers: Vec<Value> = inner
            .accounts
            .keys()
            .map(|number| json!({ "number": number }))
            .collect();
        return Ok(Value::Array(numbers));
    }
    if !ACCOUNT_METHODS.contains(&method) {
        return Err(RpcError::new(METHOD_NOT_FOUND, "Method not implemented").into());
    }
    let number = account_of(inner, &mut params)?;
    if let Some(fault) = inner
        .accounts
        .get_mut(&number)
        .and_then(|account| account.faults.get_mut(method))
        .and_then(std::collections::VecDeque::pop_front)
    {
        if let Fault::Http(status) = fault {
            return Err(Call::Http(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ));
        }
        return Err(methods::failed(inner, &number, &params, fault)?.into());
    }
    let result = match method {
        "send" => methods::send(inner, &number, &params),
        "sendTyping" => methods::send_typing(inner, &number, &params),
        "getAttachment" => methods::get_attachment(inner, &number, &params),
        _ => Ok(
            json!({ "version": concat!("0.14.6 (pincer-fake-signal ", env!("CARGO_PKG_VERSION"), ")") }),
        ),
    };
    result.map_err(Call::from)
}

/// The account a request is for: its `account` param (removed from the params, as signal-cli
/// does), or the only one.
fn account_of(inner: &Inner, params: &mut Map<String, Value>) -> Result<String, RpcError> {
    match params.remove("account") {
        Some(Value::String(number)) => inner
            .accounts
            .contains_key(&number)
            .then_some(number)
            .ok_or_else(|| RpcError::params("Specified account does not exist")),
        Some(Value::Null) | None if inner.accounts.len() == 1 => inner
            .accounts
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| RpcError::params("Method requires valid account parameter")),
        _ => Err(RpcError::params("Method requires valid account parameter")),
    }
}

fn response(id: &Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
        Err(error) => json!({
            "jsonrpc": "2.0",
            "error": { "code": error.code, "message": error.message, "data": error.data },
            "id": id,
        }),
    }
}
