//! MCP over Streamable HTTP, stateless and dual-era: the legacy lane
//! (`initialize` era, 2024-11-05 … 2025-11-25) and the modern lane
//! (2026-07-28, `server/discover`, per-request `_meta` and headers) share one
//! POST endpoint and one method dispatcher. This file is the transport:
//! content rules, batches, JSON or SSE framing. [`lane`] tells the eras
//! apart, [`methods`] answers each method, [`model`] is the wire format,
//! [`rpc`] is JSON-RPC's envelope, [`resources`] serves the callback log as
//! resources and [`stream`] streams the answers of tools that report
//! progress.

pub mod apps;
pub mod lane;
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
use lane::{lane_of, Lane, DEFAULT_LEGACY_VERSION};
use rpc::{classify, write_response, Incoming, RpcError};
use serde_json::{Map, Value};
use stream::{sse_event, sse_response};

/// Bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Messages one JSON-RPC batch may hold: each may be a tool call, and all of
/// them share the request's time and subrequests.
pub const MAX_BATCH: usize = 20;

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
                if let Err(e) = lane::check_modern(req, &method, &params) {
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

fn reply(status: u16, text: Vec<u8>, sse: bool) -> Response {
    respond(status, if sse { sse_event(&text) } else { text }, sse)
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
