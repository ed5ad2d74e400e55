//! A tool's outcome as a `CallToolResult` ([`tool_result`]), whether a
//! `tools/call` or an MCP task delivers it, so both give the same bytes;
//! and the one refusal of a tool call answered as a JSON-RPC error (a
//! signed-in user missing a scope, [`step_up`]).

use super::lane::Lane;
use super::model::{CallToolResult, Meta, Modern};
use super::rpc::{self, payload, Payload, RpcError};
use crate::auth::Refusal;
use crate::context::Ctx;
use crate::tools::{self, Out, ToolError};
use serde_json::value::{to_raw_value, RawValue};

/// A tool's outcome as a `CallToolResult`: the JSON as text and as
/// `structuredContent`, or the error text with `isError`.
pub fn tool_result(name: &str, outcome: tools::ToolResult, lane: Lane) -> Payload {
    tool_result_with(name, outcome, lane.result_fields())
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
            // The text block is the JSON itself, but for a split result.
            let (text, raw) = match out {
                Out::Raw(r) => (None, r),
                Out::Json(v) => (
                    None,
                    to_raw_value(&v)
                        .map_err(|_| ())
                        .unwrap_or_else(|()| empty_object()),
                ),
                Out::Split { text, structured } => (Some(text), structured),
            };
            let text = text.as_deref().unwrap_or(raw.get());
            payload(&CallToolResult::with_text(text, &raw, modern))
        }
        Err(e) => payload(&CallToolResult::failure(&e.text(name), modern)),
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
