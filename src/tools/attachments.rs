//! `get_task_attachment`: a task's image, in chunks, for the annotation view
//! (docs/annotation-view.md, "The attachment tool"). Only the view calls it
//! (`_meta.ui.visibility: ["app"]`); hosts drop wildcard domains from a
//! view's CSP, so the view cannot load an image from wherever Scale's task
//! says it is, and asks the server for it instead.
//!
//! The task is read as `get_task` reads it (same principal, scopes and
//! project scope, refused in the same words); the URL is the task's own
//! `params.attachment`, never the caller's. Whoever can create tasks chooses
//! that URL, so it is fetched through [`crate::guarded_fetch`] with nothing
//! of ours on the request, and what comes back must start like a PNG, JPEG,
//! GIF or WebP image, whatever it says it is. Each call answers one chunk,
//! read upstream with `Range` where the host honours it: the tool keeps no
//! state between calls, so every call checks the task, the address and the
//! image type again.

use super::args::{args, id, int, Int};
use super::error::{ErrorKind, ToolError};
use super::kernel::{tool, Out, ToolDef, ToolResult, READ};
use super::run::run_one;
use super::scope;
use super::shape::out;
use crate::callback_log::scan::scan;
use crate::codec::base64;
use crate::context::Ctx;
use crate::guarded_fetch::{self, Failure, Get, Rules};
use crate::io::InResponse;
use crate::scale::{Call, Retry};
use serde_json::value::RawValue;
use serde_json::Value;

/// The largest attachment the view is given (the view checks the same).
pub(crate) const MAX_BYTES: u64 = 8 * 1024 * 1024;
/// One chunk: 108 KiB, a multiple of 3 so that chunks' base64 joins by
/// concatenation, and 147,456 base64 characters, under the 200 KB that
/// hosted clients accept in one tool result.
pub(crate) const CHUNK: u64 = 110_592;
/// For all of one call's requests for the attachment (redirects included).
const TIMEOUT_MS: u32 = 8_000;
const REDIRECTS: u8 = 4;
/// The bytes that tell the image type.
const SNIFF: u64 = 16;

pub(crate) const TOOLS: &[ToolDef] = &[tool! {
    name: "get_task_attachment",
    title: "Task attachment for the annotation view",
    description: "The image attachment of a task, in base64 chunks, for the annotation view. Called by the view, not the model.",
    args: Chunk,
    output: || out::output(r#"{"task_id":{"type":"string"},"mime_type":{"type":"string"},"total_bytes":{"type":"integer"},"offset":{"type":"integer"},"next_offset":{"type":"integer"}}"#),
    hints: READ,
    scope: Read,
    untrusted: &[],
    projects: OwnTask,
    ui: AppOnly("get_task"),
    run: get_task_attachment,
}];

args! {
    pub(crate) struct Chunk {
        req task_id: String = id("The task's id."),
        opt offset: Int = int(0, MAX_BYTES as i64, "Byte offset to read from: 0, then each answer's next_offset."),
    }
}

/// The image type the first bytes announce.
fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| head.starts_with(sig);
    if starts(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
        Some("image/png")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if starts(b"GIF8") {
        Some("image/gif")
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

/// A refusal of what the task holds or its host answered. Not
/// [`ToolError::refused`], which says nothing was sent: Scale was asked for
/// the task, and perhaps the host for the image.
fn fail(message: String) -> ToolError {
    ToolError::scale(None, message)
}

/// Why the fetch gave no answer, in the contract's words.
fn failed(f: Failure) -> ToolError {
    fail(match f {
        Failure::NotAllowed { hop, why } => format!(
            "{} is not allowed: {why} (only https on port 443 to a public host name).",
            if hop == 0 {
                "The attachment's address"
            } else {
                "A redirect of the attachment led to an address that"
            }
        ),
        Failure::Redirect(status) => {
            format!("The attachment's server answered {status}, a redirect not followed.")
        }
        Failure::Timeout => {
            return ToolError {
                kind: ErrorKind::Timeout,
                ..fail("The attachment's server did not answer within 8 seconds.".into())
            }
        }
        Failure::TooLarge => "The attachment is larger than 8 MiB.".into(),
        Failure::Unreachable(host) => format!("The attachment could not be fetched from {host}."),
        Failure::Spent => "This request may make no more upstream requests: call get_task_attachment again on its own.".into(),
    })
}

/// Up to `len` bytes of the attachment from `first`, and its total size
/// (`Content-Range: bytes a-b/total`, or the whole body of a host that
/// ignores `Range`).
async fn read(
    cx: &Ctx,
    url: &str,
    rules: Rules<'_>,
    first: u64,
    len: u64,
) -> Result<(Vec<u8>, u64), ToolError> {
    let g = Get {
        url,
        accept: "image/png, image/jpeg, image/gif, image/webp",
        range: Some((first, first + len - 1)),
        max_bytes: MAX_BYTES as usize,
        timeout_ms: TIMEOUT_MS.min(cx.budget.remaining_ms(cx.upstream().now_ms()) as u32),
        redirects: REDIRECTS,
        rules,
    };
    match guarded_fetch::get(cx.upstream(), &g, &|| cx.budget.take_subrequest()).await {
        Ok(got) => part(got, first, len),
        Err(f) => Err(failed(f)),
    }
}

/// The bytes an answer holds from `first`, as [`read`] gives them.
fn part(got: InResponse, first: u64, len: u64) -> Result<(Vec<u8>, u64), ToolError> {
    let range = got.header("content-range").unwrap_or("");
    let start = range
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next()?.parse::<u64>().ok());
    let total = range.rsplit('/').next().and_then(|t| t.parse::<u64>().ok());
    let body = got.body;
    match (got.status, start, total) {
        // A host that ignores `Range` sends it all (within the cap).
        (200, ..) => {
            let total = body.len() as u64;
            let part = &body[first.min(total) as usize..(first + len).min(total) as usize];
            Ok((part.to_vec(), total))
        }
        (206, Some(start), Some(total)) if start == first && body.len() as u64 <= len => {
            Ok((body, total))
        }
        (416, _, Some(total)) => Ok((Vec::new(), total)),
        (status, ..) => Err(fail(format!("The attachment's server answered {status}."))),
    }
}

/// The task's attachment URL, once the task is found as `get_task` finds it.
async fn attachment_of(cx: &Ctx, task_id: &str) -> Result<String, ToolError> {
    // Built again where it is needed rather than cloned (less code).
    let call = || Call::get().lit("task").seg("task_id", task_id);
    // Read as get_task reads it (the same code, so the same answers).
    let out = match run_one(cx, call()?, Retry::Idempotent, &[]).await {
        Ok(out) => out,
        Err(e) => return Err(scope::task_error(cx, &call()?, e)),
    };
    let text = match &out {
        Out::Raw(raw) => raw.get(),
        _ => "",
    };
    // The two fields wanted, without building the task (its response can be large).
    let task = scan(text.as_bytes()).ok();
    let field = |path: &[&str]| task.as_ref().and_then(|t| t.str_at(path));
    // Before the attachment is asked for: nothing outside the connection's
    // projects is fetched.
    scope::task_in_scope(cx, &call()?, field(&["project"]))?;
    match field(&["params", "attachment"]) {
        None => Err(fail("The task has no attachment.".into())),
        Some(url) if url.starts_with("scaledata://") => Err(fail(format!(
            "The attachment is a file imported into Scale ({}); it cannot be fetched from here.",
            crate::json::truncate(url, 80)
        ))),
        Some(url) => Ok(url.to_string()),
    }
}

async fn get_task_attachment(cx: &Ctx, a: Chunk) -> ToolResult {
    let offset = a.offset.map_or(0, |o| o.0.max(0) as u64);
    let url = attachment_of(cx, &a.task_id).await?;
    let public_url = cx.config.public_url.as_deref().unwrap_or("");
    let own = [&*cx.self_origin, public_url];
    let rules = Rules {
        // The configuration allows plain http only to loopback: a local Scale.
        loopback_http: cx.config.api_base.starts_with("http://"),
        own: &own,
    };
    // The chunk, then the first bytes: the tool keeps nothing between calls,
    // so the type is checked on every call (the first chunk holds them).
    // One place that reads (the read's code is compiled once).
    let mut held: Option<(Vec<u8>, u64)> = None;
    loop {
        let (first, len) = if held.is_some() {
            (0, SNIFF)
        } else {
            (offset, CHUNK)
        };
        let (bytes, total) = read(cx, &url, rules, first, len).await?;
        match held.take() {
            None if offset > 0 => held = Some((bytes, total)),
            None => return chunk(&a.task_id, offset, None, bytes, total),
            Some((own, own_total)) => {
                return chunk(&a.task_id, offset, Some(&bytes), own, own_total.max(total))
            }
        }
    }
}

/// The answer for the chunk at `offset`, from what [`read`] gave: the
/// chunk's `bytes`, the first bytes `head` when they are not the chunk's,
/// and the larger of the totals the answers gave.
fn chunk(
    task_id: &str,
    offset: u64,
    head: Option<&[u8]>,
    mut bytes: Vec<u8>,
    total: u64,
) -> ToolResult {
    let Some(mime) = sniff(head.unwrap_or(&bytes)) else {
        return Err(fail(
            "The attachment is not a PNG, JPEG, GIF or WebP image (by its first bytes; SVG never is).".into(),
        ));
    };
    if total > MAX_BYTES {
        return Err(fail(format!(
            "The attachment is larger than 8 MiB ({total} bytes)."
        )));
    }
    if offset >= total {
        return Err(fail(format!(
            "offset {offset} is past the end of the attachment ({total} bytes)."
        )));
    }
    // Every chunk but the last must be whole base64 groups, so that the view
    // can join them; a host that answers less than asked is read on from
    // where the whole groups end.
    if offset + (bytes.len() as u64) < total {
        bytes.truncate(bytes.len() - bytes.len() % 3);
    }
    if bytes.is_empty() {
        return Err(fail(
            "The attachment's server answered an empty part.".into(),
        ));
    }
    let end = offset + bytes.len() as u64;
    // The chunk's description, `structuredContent`; written out rather than
    // derived, as its fields' order is the contract's.
    let json = format!(
        r#"{{"task_id":{},"mime_type":"{mime}","total_bytes":{total},"offset":{offset},"next_offset":{}}}"#,
        Value::from(task_id),
        Value::from((end < total).then_some(end)),
    );
    // The bytes once, in the text block only (docs/annotation-view.md, "Result").
    let mut text = json[..json.len() - 1].to_string();
    text.push_str(",\"data\":\"");
    text.push_str(&base64(&bytes));
    text.push_str("\"}");
    let structured = RawValue::from_string(json).expect("valid JSON");
    Ok(Out::Split { text, structured })
}

#[cfg(test)]
#[path = "attachments_tests.rs"]
mod tests;
