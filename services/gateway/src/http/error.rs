//! API errors in OpenAI's shape: `{"error":{"message","type","param","code"}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// Everything a handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong credentials. Deliberately says nothing more.
    #[error("unauthorized")]
    Unauthorized,
    /// The request is malformed; `param` names the offending field.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// JSON path of the field, if one is to blame.
        param: Option<String>,
    },
    /// The body exceeds the configured cap.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Unknown route or model.
    #[error("{0}")]
    NotFound(String),
    /// Unknown agent, with the valid names.
    #[error("{message}")]
    ModelNotFound {
        /// Message listing valid models.
        message: String,
    },
    /// The providers failed or refused.
    #[error("{0}")]
    BadGateway(String),
    /// Pincer cannot take the turn right now (bus down, no runner).
    #[error("{0}")]
    Unavailable(String),
    /// The turn ran out of time.
    #[error("{0}")]
    Timeout(String),
    /// The run was stopped by an operator (`chat.abort`).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed auth attempts from this address.
    #[error("too many failed attempts; retry in {retry_after_secs}s")]
    RateLimited {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
    /// A browser origin that is not allowed, or a client the auth mode does not accept.
    #[error("{0}")]
    Forbidden(String),
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming `param`.
    pub fn bad_request(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) | Self::ModelNotFound { .. } => StatusCode::NOT_FOUND,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI error body.
    pub fn body(&self) -> serde_json::Value {
        let (kind, code, param) = match self {
            Self::Unauthorized => ("authentication_error", Some("invalid_api_key"), None),
            Self::BadRequest { param, .. } => ("invalid_request_error", None, param.clone()),
            Self::TooLarge { .. } => ("invalid_request_error", Some("request_too_large"), None),
            Self::NotFound(_) => ("invalid_request_error", Some("not_found"), None),
            Self::ModelNotFound { .. } => (
                "invalid_request_error",
                Some("model_not_found"),
                Some("model".to_owned()),
            ),
            Self::BadGateway(_) => ("upstream_error", Some("provider_error"), None),
            Self::Unavailable(_) => ("server_error", Some("unavailable"), None),
            Self::Timeout(_) => ("server_error", Some("timeout"), None),
            Self::Conflict(_) => ("invalid_request_error", Some("aborted"), None),
            Self::RateLimited { .. } => {
                ("rate_limit_error", Some("too_many_failed_attempts"), None)
            }
            Self::Forbidden(_) => ("permission_error", Some("forbidden"), None),
            Self::Internal(_) => ("server_error", Some("internal_error"), None),
        };
        json!({ "error": { "message": self.to_string(), "type": kind, "param": param, "code": code } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}

/// The body of a request, or the error (JSON, as every API error) that says why it could not be
/// read: 413 over the `limit`, 400 otherwise.
pub(super) fn read_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge { limit },
        _ => ApiError::BadRequest {
            message: format!("cannot read the request body: {rejection}"),
            param: None,
        },
    })
}
