//! MCP over Streamable HTTP, stateless and dual-era: the legacy lane
//! (`initialize` era, 2024-11-05 … 2025-11-25) and the modern lane
//! (2026-07-28, `server/discover`, per-request `_meta` and headers) share one
//! POST endpoint and one method dispatcher. This file is the transport:
//! content rules, lanes, batches, JSON or SSE framing. [`methods`] answers
//! each method, [`model`] is the wire format, [`resources`] serves the
//! callback log as resources.

pub mod methods;
pub mod model;
pub mod resources;
pub mod results;
pub mod rpc;
pub mod stream;
pub mod tasks;

use crate::context::Ctx;
use crate::http::{BodyError, Request as HttpIn, Response};
use crate::json::{parse_strict, truncate};
use rpc::{classify, write_response, Incoming, RpcError};
use serde_json::{json, Map, Value};

pub const MODERN_VERSION: &str = "2026-07-28";
/// Newest first; `initialize` answers the first when it cannot echo the client's.
pub const LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// What a request without `MCP-Protocol-Version` is taken to speak.
pub const DEFAULT_LEGACY_VERSION: &str = "2025-03-26";
/// Bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Messages one JSON-RPC batch may hold: each may be a tool call, and all of
/// them share the request's time and subrequests.
pub const MAX_BATCH: usize = 20;

pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CAPS: &str = "io.modelcontextprotocol/clientCapabilities";

pub fn supported_versions() -> Vec<&'static str> {
    std::iter::once(MODERN_VERSION)
        .chain(LEGACY_VERSIONS)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// The version the request is taken to speak (from the header or the default).
    Legacy(&'static str),
    Modern,
}

/// Answers one POST to `/mcp` (authentication and origin already checked,
/// the body not yet read), with the lines its tool calls added to the worker log.
pub async fn handle_post(req: &HttpIn, cx: &Ctx) -> Response {
    let mut out = post(req, cx).await;
    out.logs.extend(cx.take_notes());
    out
}

async fn post(req: &HttpIn, cx: &Ctx) -> Response {
    let sse = wants_sse(req.header("accept"));
    if let Some(ct) = req.header("content-type") {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return error_reply(
                RpcError::new(
                    rpc::INVALID_REQUEST,
                    format!(
                        "Content-Type must be application/json, not `{}`",
                        truncate(mime, 64)
                    ),
                )
                .with_status(415),
                sse,
            );
        }
    }
    let bytes = match req.read_body(MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return error_reply(
                RpcError::new(
                    rpc::INVALID_REQUEST,
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                )
                .with_status(413),
                sse,
            )
        }
        Err(BodyError::Failed(_)) => {
            return error_reply(
                RpcError::new(rpc::INVALID_REQUEST, "the request body could not be read"),
                sse,
            )
        }
    };
    let body = match parse_strict(&bytes) {
        Ok(v) => v,
        Err(m) => return error_reply(RpcError::new(rpc::PARSE_ERROR, m), sse),
    };
    let lane = match lane_of(req.header("mcp-protocol-version"), &body) {
        Ok(l) => l,
        Err(e) => return error_reply_to(&rpc::request_id(&body), e, sse),
    };
    match body {
        Value::Array(items) if lane == Lane::Legacy(DEFAULT_LEGACY_VERSION) => handle_batch(items, lane, req, cx, sse).await,
        Value::Array(_) => error_reply(
            RpcError::new(rpc::INVALID_REQUEST, "JSON-RPC batches are only accepted under protocol version 2025-03-26; send one message per POST"),
            sse,
        ),
        msg => {
            let p = prepare(msg, lane, req);
            let token = match &p {
                Prepared::Call { method, params, .. } => stream::progress_token(req, cx.identity().principal(), method, params),
                _ => None,
            };
            match (p, token) {
                (Prepared::Call { id, method, params }, Some(token)) => {
                    stream::respond(id, method, params, token, lane, cx)
                }
                (p, _) => match answer(p, lane, cx).await {
                    (_, None) => accepted(),
                    (status, Some(text)) => reply(status, text, sse),
                },
            }
        }
    }
}

/// Decides the lane from the `MCP-Protocol-Version` header, or, without it,
/// from whether the body carries modern `_meta`.
pub fn lane_of(header: Option<&str>, body: &Value) -> Result<Lane, RpcError> {
    let header = header.map(str::trim);
    let body_version = body
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_VERSION));
    // A request naming two different versions is a header mismatch, whichever
    // of them we support, so the two are compared before either is judged.
    if let (Some(h), Some(Value::String(b))) = (header, body_version) {
        if h != b {
            return Err(RpcError::new(
                rpc::HEADER_MISMATCH,
                "MCP-Protocol-Version header does not match params._meta protocol version",
            ));
        }
    }
    match header {
        Some(MODERN_VERSION) => Ok(Lane::Modern),
        Some(v) => match LEGACY_VERSIONS.iter().find(|s| **s == v) {
            Some(s) => Ok(Lane::Legacy(s)),
            None => Err(unsupported_version(v)),
        },
        None if body_version.is_some() => Ok(Lane::Modern),
        None => Ok(Lane::Legacy(DEFAULT_LEGACY_VERSION)),
    }
}

pub fn unsupported_version(requested: &str) -> RpcError {
    RpcError::new(
        rpc::UNSUPPORTED_VERSION,
        format!(
            "unsupported protocol version `{}`; supported: {}",
            truncate(requested, 40),
            supported_versions().join(", ")
        ),
    )
    .with_data(json!({"supported": supported_versions(), "requested": requested}))
}

async fn handle_batch(
    items: Vec<Value>,
    lane: Lane,
    req: &HttpIn,
    cx: &Ctx,
    sse: bool,
) -> Response {
    if items.is_empty() {
        return error_reply(
            RpcError::new(rpc::INVALID_REQUEST, "empty JSON-RPC batch"),
            sse,
        );
    }
    if items.len() > MAX_BATCH {
        return error_reply(
            RpcError::new(
                rpc::INVALID_REQUEST,
                format!(
                    "a JSON-RPC batch may hold at most {MAX_BATCH} messages, this one has {}; send them in several POSTs",
                    items.len()
                ),
            ),
            sse,
        );
    }
    let mut parts = Vec::new();
    // Inside a batch a missing scope is a tool error, never a 403
    // (docs/permissions.md §2).
    let cx = &Ctx {
        single: false,
        ..cx.clone()
    };
    for item in items {
        if let (_, Some(text)) = handle_one(item, lane, req, cx).await {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        return accepted();
    }
    let body = if sse {
        // One event per response, as the 2025-03-26 transport allows.
        parts.iter().flat_map(|p| sse_event(p)).collect()
    } else {
        let mut b = vec![b'['];
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(p);
        }
        b.push(b']');
        b
    };
    respond(200, body, sse)
}

/// One message after the transport's checks.
enum Prepared {
    /// A notification or response: nothing to answer.
    Ignore,
    /// Refused before dispatch: answer this error with this id.
    Refused(Value, RpcError),
    Call {
        id: Value,
        method: String,
        params: Map<String, Value>,
    },
}

fn prepare(msg: Value, lane: Lane, req: &HttpIn) -> Prepared {
    match classify(msg) {
        Incoming::Notification | Incoming::Response => Prepared::Ignore,
        Incoming::Invalid { id, error } => Prepared::Refused(id, error),
        Incoming::Request { id, method, params } => {
            if lane == Lane::Modern {
                if let Err(e) = methods::check_modern(req, &method, &params) {
                    return Prepared::Refused(id, e);
                }
            }
            Prepared::Call { id, method, params }
        }
    }
}

/// Handles one message; `None` means nothing to answer (a notification or response).
async fn handle_one(msg: Value, lane: Lane, req: &HttpIn, cx: &Ctx) -> (u16, Option<Vec<u8>>) {
    answer(prepare(msg, lane, req), lane, cx).await
}

async fn answer(p: Prepared, lane: Lane, cx: &Ctx) -> (u16, Option<Vec<u8>>) {
    let (id, result) = match p {
        Prepared::Ignore => return (202, None),
        Prepared::Refused(id, e) => (id, Err(e)),
        Prepared::Call { id, method, params } => {
            (id, methods::dispatch(&method, params, lane, cx).await)
        }
    };
    let status = match &result {
        Err(e) => e.http_status,
        Ok(_) => 200,
    };
    let mut out = Vec::new();
    write_response(&mut out, &id, &result);
    (status, Some(out))
}

/// JSON unless the client accepts only SSE (some hosted proxies send just
/// `text/event-stream`); no Accept, `*/*` or `application/json` all get JSON.
pub fn wants_sse(accept: Option<&str>) -> bool {
    let Some(a) = accept else { return false };
    let types: Vec<String> = a
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let json_ok = types
        .iter()
        .any(|t| t == "application/json" || t == "*/*" || t == "application/*");
    !json_ok
        && types
            .iter()
            .any(|t| t == "text/event-stream" || t == "text/*")
}

/// Whether the client named `text/event-stream` among the types it accepts
/// (clients that can read a streamed answer say so).
pub fn accepts_sse(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/event-stream")
        })
    })
}

fn sse_event(data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(data.len() + 24);
    e.extend_from_slice(b"event: message\ndata: ");
    e.extend_from_slice(data);
    e.extend_from_slice(b"\n\n");
    e
}

fn reply(status: u16, text: Vec<u8>, sse: bool) -> Response {
    respond(status, if sse { sse_event(&text) } else { text }, sse)
}

/// The headers of an SSE answer.
fn sse_response(status: u16) -> Response {
    Response::new(status)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
}

/// A body already in its form: SSE events or JSON.
fn respond(status: u16, body: Vec<u8>, sse: bool) -> Response {
    let out = if sse {
        sse_response(status)
    } else {
        Response::new(status).header("content-type", "application/json")
    };
    out.body(body)
}

fn accepted() -> Response {
    Response::new(202)
}

/// An error that is not tied to a request id (parse errors, transport rules).
pub fn error_reply(e: RpcError, sse: bool) -> Response {
    error_reply_to(&Value::Null, e, sse)
}

/// An error about the request with this id (null when it has none).
fn error_reply_to(id: &Value, e: RpcError, sse: bool) -> Response {
    let mut out = Vec::new();
    let status = e.http_status;
    write_response(&mut out, id, &Err(e));
    reply(status, out, sse)
}
