//! The tools and the protocol handler.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, DiscoverResult,
    ErrorCode, ErrorData, Implementation, JsonObject, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use crate::{CRASH_EXIT_CODE, Options};

/// Every tool, in listing order.
pub const TOOL_NAMES: &[&str] = &[
    "echo",
    "add",
    "fail",
    "slow",
    "crash",
    "grow",
    "garbage",
    "secret",
    "era",
    "image",
    "structured",
    "cancelled",
    "env",
    "read_file",
    "write_file",
    "connect",
    "flood",
];

/// Tools per `tools/list` page.
const PAGE: usize = 3;

/// Versions with an `initialize` handshake (what `--legacy-versions` supports).
const LEGACY_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2024_11_05,
];

/// The MCP handler.
#[derive(Clone, Debug)]
pub struct TestServer {
    options: Options,
    /// Whether stdout is the transport (then `garbage` writes to it).
    stdio: bool,
    /// Its tools; `grow` adds one.
    tools: Arc<std::sync::RwLock<Vec<Tool>>>,
    /// `slow` calls the client cancelled (shared by the sessions of one process).
    cancelled: Arc<AtomicUsize>,
}

impl TestServer {
    /// A handler; `stdio` says whether stdout carries the protocol.
    #[must_use]
    pub fn new(options: Options, stdio: bool) -> Self {
        Self::sharing(options, stdio, Arc::default())
    }

    /// A handler counting cancelled calls in `cancelled` (one counter for all HTTP sessions).
    #[must_use]
    pub fn sharing(options: Options, stdio: bool, cancelled: Arc<AtomicUsize>) -> Self {
        Self {
            options,
            stdio,
            tools: Arc::new(std::sync::RwLock::new(tools())),
            cancelled,
        }
    }
}

impl TestServer {
    fn tools(&self) -> std::sync::RwLockReadGuard<'_, Vec<Tool>> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tool `grow` adds.
const GROWN: &str = "grown";

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tools() -> Vec<Tool> {
    let empty = || schema(json!({"type": "object", "properties": {}}));
    vec![
        Tool::new(
            "echo",
            "Returns `text` unchanged.",
            schema(
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            ),
        ),
        Tool::new(
            "add",
            "Adds two numbers.",
            schema(
                json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
            ),
        ),
        Tool::new("fail", "Always fails (an isError result).", empty()),
        Tool::new(
            "slow",
            "Sleeps `ms` milliseconds, then answers.",
            schema(
                json!({"type": "object", "properties": {"ms": {"type": "integer"}}, "required": ["ms"]}),
            ),
        ),
        Tool::new("crash", "Exits the server process at once.", empty()),
        Tool::new(
            "grow",
            "Adds the tool `grown` and says the tools changed.",
            empty(),
        ),
        Tool::new(
            "garbage",
            "Writes a line that is not JSON-RPC to stdout, then answers.",
            empty(),
        ),
        Tool::new(
            "secret",
            "A tool clients should not offer unless allowed.",
            empty(),
        ),
        Tool::new(
            "era",
            "The protocol version this call was made with.",
            empty(),
        ),
        Tool::new("image", "Returns a tiny PNG image.", empty()),
        Tool::new("structured", "Returns only structuredContent.", empty()),
        Tool::new(
            "cancelled",
            "How many `slow` calls the client has cancelled.",
            empty(),
        ),
        Tool::new(
            "env",
            "The value of the environment variable `name`, or `(unset)`.",
            schema(
                json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
            ),
        ),
        Tool::new(
            "read_file",
            "The text of the file at `path`, or why it cannot be read (for confinement tests).",
            schema(
                json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            ),
        ),
        Tool::new(
            "write_file",
            "Writes `text` to `path`, or says why it cannot (for confinement tests).",
            schema(
                json!({"type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}, "required": ["path", "text"]}),
            ),
        ),
        Tool::new(
            "connect",
            "Opens a TCP connection to `host`:`port` and says whether it worked.",
            schema(
                json!({"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}, "required": ["host", "port"]}),
            ),
        ),
        Tool::new(
            "flood",
            "Writes `bytes` bytes without a newline to stdout (stdio only), then answers.",
            schema(
                json!({"type": "object", "properties": {"bytes": {"type": "integer"}}, "required": ["bytes"]}),
            ),
        ),
    ]
}

/// The string argument `key`.
fn string<'a>(args: &'a JsonObject, key: &str) -> Result<&'a str, ErrorData> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{key}` must be a string")))
}

fn text(value: impl Into<String>) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(value)]))
}

fn invalid(message: impl Into<Cow<'static, str>>) -> ErrorData {
    ErrorData::invalid_params(message, None)
}

impl rmcp::ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            "pincer-mcp-test-server",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.options.legacy_versions {
            Cow::Borrowed(LEGACY_VERSIONS)
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        if self.options.legacy_only {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                "Method not found: server/discover",
                None,
            ));
        }
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|start| *start < self.tools().len())
                .ok_or_else(|| invalid(format!("bad cursor {cursor:?}")))?,
        };
        let tools = self.tools().clone();
        let end = (start + PAGE).min(tools.len());
        let mut page = ListToolsResult::with_all_items(tools[start..end].to_vec());
        if end < tools.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let number = |key: &str| {
            args.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| invalid(format!("`{key}` must be a number")))
        };
        match request.name.as_ref() {
            "echo" => {
                let value = args
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`text` must be a string"))?;
                Ok(text(value))
            }
            "add" => {
                let sum = number("a")? + number("b")?;
                Ok(text(sum.to_string()))
            }
            "fail" => Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text("the fail tool failed, as asked"),
            ]))),
            "slow" => {
                let ms = args
                    .get("ms")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| invalid("`ms` must be a non-negative integer"))?;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(text(format!("slept {ms} ms"))),
                    () = context.ct.cancelled() => {
                        self.cancelled.fetch_add(1, Ordering::SeqCst);
                        Err(ErrorData::internal_error("cancelled", None))
                    }
                }
            }
            "crash" => std::process::exit(CRASH_EXIT_CODE),
            "garbage" => {
                if self.stdio {
                    let mut out = std::io::stdout().lock();
                    let _ = out
                        .write_all(b"this line is not json-rpc {{{\n")
                        .and_then(|()| out.flush());
                }
                Ok(text("wrote garbage"))
            }
            "secret" => Ok(text("the secret is 42")),
            "grow" => {
                {
                    let mut tools = self.tools.write().unwrap_or_else(PoisonError::into_inner);
                    if !tools.iter().any(|tool| tool.name == GROWN) {
                        tools.push(Tool::new(
                            GROWN,
                            "Added by `grow`.",
                            schema(json!({"type": "object", "properties": {}})),
                        ));
                    }
                }
                // Unasked, as servers before 2026-07-28 send it.
                let _ = context.peer.notify_tool_list_changed().await;
                Ok(text("grew"))
            }
            GROWN => Ok(text("grown")),
            "era" => Ok(text(
                context
                    .protocol_version()
                    .map_or_else(|| "unknown".to_owned(), |v| v.to_string()),
            )),
            "image" => Ok(CallToolResponse::Complete(CallToolResult::success(vec![
                ContentBlock::image("iVBORw0KGgo=", "image/png"),
            ]))),
            "structured" => {
                let mut result = CallToolResult::success(Vec::new());
                result.structured_content = Some(json!({"answer": 42}));
                Ok(CallToolResponse::Complete(result))
            }
            "cancelled" => Ok(text(self.cancelled.load(Ordering::SeqCst).to_string())),
            "env" => {
                let name = args
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`name` must be a string"))?;
                Ok(text(
                    std::env::var(name).unwrap_or_else(|_| "(unset)".to_owned()),
                ))
            }
            "read_file" => {
                let path = string(&args, "path")?;
                Ok(text(match std::fs::read_to_string(path) {
                    Ok(content) => content,
                    Err(error) => format!("cannot read {path}: {error}"),
                }))
            }
            "write_file" => {
                let path = string(&args, "path")?;
                let body = string(&args, "text")?;
                Ok(text(match std::fs::write(path, body) {
                    Ok(()) => format!("wrote {path}"),
                    Err(error) => format!("cannot write {path}: {error}"),
                }))
            }
            "connect" => {
                let host = string(&args, "host")?;
                let port = args
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| invalid("`port` must be a port number"))?;
                let connected = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::TcpStream::connect((host, port)),
                )
                .await;
                Ok(text(match connected {
                    Ok(Ok(_)) => format!("connected to {host}:{port}"),
                    Ok(Err(error)) => format!("cannot connect to {host}:{port}: {error}"),
                    Err(_) => format!("cannot connect to {host}:{port}: timed out"),
                }))
            }
            "flood" => {
                let bytes = args
                    .get("bytes")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| invalid("`bytes` must be a non-negative integer"))?;
                if self.stdio {
                    let chunk = [b'x'; 65_536];
                    let mut out = std::io::stdout().lock();
                    let mut left = bytes;
                    while left > 0 {
                        let n =
                            usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                        if out.write_all(&chunk[..n]).is_err() {
                            break;
                        }
                        left -= n as u64;
                    }
                    let _ = out.write_all(b"\n").and_then(|()| out.flush());
                }
                Ok(text(format!("flooded {bytes} bytes")))
            }
            other => Err(invalid(format!("Unknown tool: {other}"))),
        }
    }
}
