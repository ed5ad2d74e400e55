//! What results of several methods share: the server's identity, the
//! 2026-07-28 lane's fields of every result ([`modern`]), and a tool's
//! outcome as a `CallToolResult` ([`tool_result`]), whether a `tools/call`
//! or an MCP task delivers it, so both give the same bytes.

use super::model::{CallToolResult, Implementation, Meta, Modern, TextContent};
use super::rpc::{self, payload, Payload, RpcError};
use super::Lane;
use crate::auth::Refusal;
use crate::context::Ctx;
use crate::tools::{self, Out, ToolError};
use serde_json::value::{to_raw_value, RawValue};

pub const SERVER_NAME: &str = "scale-mcp-worker";
pub const SERVER_TITLE: &str = "Scale AI";
/// How long a client may cache list results (the lists change only on deploy).
pub const LIST_TTL_MS: u64 = 3_600_000;

pub const SERVER_INFO: Implementation = Implementation {
    name: SERVER_NAME,
    title: SERVER_TITLE,
    version: crate::VERSION,
};

/// The modern lane's fields for a result (none on the legacy lane); lists
/// also say how long a client may cache them.
pub fn modern(lane: Lane, list: bool) -> Modern {
    match lane {
        Lane::Legacy(_) => Modern::default(),
        Lane::Modern => Modern {
            result_type: Some("complete"),
            meta: Some(Meta {
                server_info: Some(SERVER_INFO),
                ..Meta::default()
            }),
            ttl_ms: list.then_some(LIST_TTL_MS),
            cache_scope: list.then_some("public"),
        },
    }
}

/// A tool's outcome as a `CallToolResult`: the JSON as text and as
/// `structuredContent`, or the error text with `isError`.
pub fn tool_result(name: &str, outcome: tools::ToolResult, lane: Lane) -> Payload {
    tool_result_with(name, outcome, modern(lane, false))
}

/// [`tool_result`] with the lane's fields given (an MCP task's result adds
/// its own `_meta`).
pub fn tool_result_with(name: &str, outcome: tools::ToolResult, mut modern: Modern) -> Payload {
    match outcome {
        Ok(out) => {
            let untrusted = tools::find(name).map_or(&[][..], |(_, t)| t.untrusted);
            if !untrusted.is_empty() {
                modern.meta.get_or_insert_with(Meta::default).untrusted = untrusted;
            }
            let raw = match out {
                Out::Raw(r) => r,
                Out::Json(v) => to_raw_value(&v)
                    .map_err(|_| ())
                    .unwrap_or_else(|()| empty_object()),
            };
            payload(&CallToolResult::new(
                [TextContent::new(raw.get())],
                Some(&raw),
                None,
                modern,
            ))
        }
        Err(e) => payload(&CallToolResult::new(
            [TextContent::new(&e.text(name))],
            None,
            Some(true),
            modern,
        )),
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("valid JSON")
}

/// docs/permissions.md §2: a signed-in user missing a scope, in a request
/// of one message, gets HTTP 403 (the router adds the `insufficient_scope`
/// challenge), since signing in again can grant it. Static tokens, batches
/// and every narrowing refusal stay tool errors.
pub fn step_up(cx: &Ctx, e: &ToolError) -> Option<RpcError> {
    (cx.single
        && cx.identity().principal().kind.steps_up()
        && matches!(e.refusal.as_deref(), Some(Refusal::MissingScope(_))))
    .then(|| RpcError::new(rpc::INVALID_REQUEST, e.message.clone()).with_status(403))
}
