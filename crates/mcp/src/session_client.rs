//! The HTTP client of streamable HTTP servers: rmcp's reqwest client, plus the lost session that
//! servers built on the TypeScript SDK report their own way.
//!
//! The spec has a server answer a request in a session it no longer knows (it restarted, or
//! dropped the session) with HTTP 404; rmcp then starts a new session and sends the request again.
//! The TypeScript SDK's servers (the official reference servers among them) answer HTTP 400 with
//! a JSON-RPC error instead, without an `id` (`Bad Request: No valid session ID provided`) or
//! with one (`Session not found`). rmcp hands that on as the answer: without an `id` it answers
//! no request, so the call waited for its timeout, three times before the connection was
//! restarted; with one, every later call failed until the runner restarted. Here both count as
//! the expired session they are.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

/// rmcp's reqwest client, which reports a lost session however the server words it.
#[derive(Clone, Debug)]
pub(crate) struct SessionClient(pub(crate) reqwest::Client);

/// Whether `answer`, to a request sent in a session, says the session is gone: an error tied to
/// no request (a server that answers a request it accepted puts its `id` in the error), or one
/// that names the session.
fn is_lost_session(answer: &ServerJsonRpcMessage) -> bool {
    let JsonRpcMessage::Error(error) = answer else {
        return false;
    };
    error.id.is_none() || error.error.message.to_ascii_lowercase().contains("session")
}

type PostResult = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;

fn checked(sent_in_session: bool, result: PostResult) -> PostResult {
    match result {
        Ok(StreamableHttpPostResponse::Json(answer, _))
            if sent_in_session && is_lost_session(&answer) =>
        {
            Err(StreamableHttpError::SessionExpired)
        }
        other => other,
    }
}

// rmcp's transport calls the `_with_response_limits` and `_with_max_sse_event_size` methods, which
// carry its configured limits into reqwest's client; the plain ones are what the trait requires.
impl StreamableHttpClient for SessionClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> PostResult {
        let in_session = session_id.is_some();
        let result = self
            .0
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        checked(in_session, result)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> PostResult {
        let in_session = session_id.is_some();
        let result = self
            .0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        checked(in_session, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxedSseResponse, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxedSseResponse, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> ServerJsonRpcMessage {
        serde_json::from_str(json).expect("a JSON-RPC message")
    }

    #[test]
    fn a_lost_session_is_told_by_an_error_without_id_or_naming_the_session() {
        // The TypeScript SDK's two wordings.
        let no_id = answer(
            r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#,
        );
        let named = answer(
            r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":3}"#,
        );
        assert!(is_lost_session(&no_id));
        assert!(is_lost_session(&named));
        assert!(matches!(
            checked(
                true,
                Ok(StreamableHttpPostResponse::Json(no_id.clone(), None))
            ),
            Err(StreamableHttpError::SessionExpired)
        ));
        // Outside a session there is nothing to start again: the error is the answer.
        assert!(matches!(
            checked(false, Ok(StreamableHttpPostResponse::Json(no_id, None))),
            Ok(StreamableHttpPostResponse::Json(..))
        ));
    }

    #[test]
    fn other_errors_and_results_are_answers() {
        let unknown_tool = answer(
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Unknown tool: nope"},"id":4}"#,
        );
        let result = answer(r#"{"jsonrpc":"2.0","result":{"content":[]},"id":5}"#);
        assert!(!is_lost_session(&unknown_tool));
        assert!(!is_lost_session(&result));
        assert!(matches!(
            checked(
                true,
                Ok(StreamableHttpPostResponse::Json(unknown_tool, None))
            ),
            Ok(StreamableHttpPostResponse::Json(..))
        ));
    }
}
