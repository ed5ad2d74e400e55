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
use super::run::Session;
use super::scope;
use super::shape::out;
use crate::codec::base64;
use crate::context::Ctx;
use crate::guarded_fetch::{self, Failure, Get, Got, Rules};
use crate::scale::{Call, Retry};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
    output: || out::schema(r#"{"type": "object", "required": ["task_id", "mime_type", "total_bytes", "offset", "next_offset"], "properties": {
"task_id": {"type": "string"}, "mime_type": {"type": "string", "enum": ["image/png", "image/jpeg", "image/gif", "image/webp"]},
"total_bytes": {"type": "integer"}, "offset": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]}}}"#),
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

/// What the tool needs of Scale's task.
#[derive(Deserialize)]
struct TaskRef {
    project: Option<String>,
    #[serde(default)]
    params: Option<ParamsRef>,
}

#[derive(Deserialize)]
struct ParamsRef {
    attachment: Option<String>,
}

/// A chunk's description: `structuredContent`, and with `data` the text.
#[derive(Serialize)]
struct Record<'a> {
    task_id: &'a str,
    mime_type: &'static str,
    total_bytes: u64,
    offset: u64,
    next_offset: Option<u64>,
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

/// What a file that is not one of the four looks like, for the refusal.
fn looks_like(head: &[u8]) -> &'static str {
    let text = head.trim_ascii_start();
    if text.starts_with(b"<") {
        "SVG, HTML or other markup"
    } else if head.starts_with(b"%PDF") {
        "a PDF document"
    } else if head.starts_with(b"BM") {
        "a BMP image"
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        "a TIFF image"
    } else if text.starts_with(b"{") || text.starts_with(b"[") {
        "JSON"
    } else if head.is_empty() {
        "an empty file"
    } else {
        "none of them"
    }
}

/// A refusal of what the task holds. Not [`ToolError::refused`], which
/// says nothing was sent: Scale was asked for the task, and perhaps the
/// attachment's host for its first bytes.
fn refused(message: String) -> ToolError {
    ToolError::scale(None, message)
}

/// A refusal of the fetch, in the contract's words.
fn failed(f: Failure) -> ToolError {
    match f {
        Failure::NotAllowed { hop: 0, why } => refused(format!(
            "The attachment's address is not allowed: {why} (only https on port 443 to a public host name)."
        )),
        Failure::NotAllowed { why, .. } => refused(format!(
            "A redirect of the attachment led to an address that is not allowed: {why}."
        )),
        Failure::Redirect(status) => ToolError::scale(
            None,
            format!("The attachment's server answered {status}, a redirect this server does not follow (more than {REDIRECTS}, or without a target)."),
        ),
        Failure::Timeout => ToolError {
            kind: ErrorKind::Timeout,
            ..refused(format!(
                "The attachment's server did not answer within {} seconds.",
                TIMEOUT_MS / 1000
            ))
        },
        Failure::TooLarge => refused(format!(
            "The attachment is larger than 8 MiB (more than {MAX_BYTES} bytes)."
        )),
        Failure::Unreachable(host) => ToolError::scale(
            None,
            format!("The attachment could not be fetched from {host}."),
        ),
        Failure::Spent => refused(
            "This request has used the upstream requests it may make; call get_task_attachment again in a request of its own."
                .into(),
        ),
    }
}

/// The total size a ranged answer gives (`Content-Range: bytes a-b/total`
/// or `bytes */total`), and the first byte it holds.
fn content_range(got: &Got) -> Option<(u64, Option<u64>)> {
    let v = got.header("content-range")?.trim();
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let total = total.trim().parse().ok()?;
    let first = range
        .split_once('-')
        .and_then(|(a, _)| a.trim().parse().ok());
    Some((total, first))
}

/// Bytes `first..first + len` of the attachment, or the refusal, with its
/// total size when the answer says it.
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
    let got = guarded_fetch::get(cx.upstream(), &g, &|| cx.budget.take_subrequest())
        .await
        .map_err(failed)?;
    let too_large = |n: u64| refused(format!("The attachment is larger than 8 MiB ({n} bytes)."));
    match got.status {
        // A server that ignores `Range` sends it all (within the cap).
        200 => {
            let total = got.body.len() as u64;
            let from = (first.min(total)) as usize;
            let to = ((first + len).min(total)) as usize;
            Ok((got.body[from..to].to_vec(), total))
        }
        206 => match content_range(&got) {
            Some((total, _)) if total > MAX_BYTES => Err(too_large(total)),
            Some((total, Some(start))) if start == first && got.body.len() as u64 <= len => {
                Ok((got.body, total))
            }
            _ => Err(ToolError::scale(
                None,
                "The attachment's server answered with a part other than the one asked for.",
            )),
        },
        416 => {
            let total = content_range(&got).map(|(t, _)| t);
            Err(match total {
                Some(0) | None if first == 0 => refused("The attachment is empty.".into()),
                Some(t) => refused(format!(
                    "offset {first} is past the end of the attachment ({t} bytes)."
                )),
                None => refused(format!("offset {first} is past the end of the attachment.")),
            })
        }
        s => Err(ToolError::scale(
            None,
            format!("The attachment's server answered {s}."),
        )),
    }
}

async fn get_task_attachment(cx: &Ctx, a: Chunk) -> ToolResult {
    let offset = a.offset.map_or(0, |o| o.0.max(0) as u64);
    let call = Call::get().lit("task").seg("task_id", &a.task_id)?;
    let s = Session::new(cx);
    let task = match s.send_raw(&call, Retry::Idempotent, &[]).await {
        Ok(text) => {
            serde_json::from_str::<TaskRef>(text.as_deref().unwrap_or("{}")).unwrap_or(TaskRef {
                project: None,
                params: None,
            })
        }
        Err(e) => return Err(scope::task_error(cx, &call, e)),
    };
    // Checked before the attachment is asked for: nothing outside the
    // connection's projects is fetched.
    scope::task_in_scope(cx, &call, task.project.as_deref())?;
    let Some(url) = task.params.and_then(|p| p.attachment) else {
        return Err(refused("The task has no attachment.".into()));
    };
    if url.starts_with("scaledata://") {
        return Err(refused(format!(
            "The attachment is a file imported into Scale ({}); it cannot be fetched from here.",
            crate::json::truncate(&url, 80)
        )));
    }
    let public_url = cx.config.public_url.as_deref().unwrap_or("");
    let own = [&*cx.self_origin, public_url];
    let rules = Rules {
        // The configuration allows plain http only to loopback: a local Scale.
        loopback_http: cx.config.api_base.starts_with("http://"),
        own: &own,
    };
    // The type is checked on every call: the tool keeps nothing between them.
    let (mut bytes, mut total) = read(cx, &url, rules, offset, CHUNK).await?;
    let head = if offset == 0 {
        bytes.clone()
    } else {
        let (head, t) = read(cx, &url, rules, 0, SNIFF).await?;
        total = total.max(t);
        head
    };
    let Some(mime) = sniff(&head) else {
        return Err(refused(format!(
            "The attachment is not a PNG, JPEG, GIF or WebP image (it starts like {}).",
            looks_like(&head[..head.len().min(SNIFF as usize)])
        )));
    };
    if total > MAX_BYTES {
        return Err(refused(format!(
            "The attachment is larger than 8 MiB ({total} bytes)."
        )));
    }
    if offset >= total {
        return Err(refused(format!(
            "offset {offset} is past the end of the attachment ({total} bytes)."
        )));
    }
    let end = offset + bytes.len() as u64;
    // Every chunk but the last must be whole base64 groups, so that the view
    // can join them; a server that answers less than asked is read on from
    // where the whole groups end.
    if end < total {
        bytes.truncate(bytes.len() - bytes.len() % 3);
        if bytes.is_empty() {
            return Err(ToolError::scale(
                None,
                "The attachment's server answered an empty part.",
            ));
        }
    }
    let end = offset + bytes.len() as u64;
    let record = Record {
        task_id: &a.task_id,
        mime_type: mime,
        total_bytes: total,
        offset,
        next_offset: (end < total).then_some(end),
    };
    let json = serde_json::to_string(&record).unwrap_or_default();
    // The bytes once, in the text block only (docs/annotation-view.md, "Result").
    let text = format!(
        "{},\"data\":\"{}\"}}",
        &json[..json.len() - 1],
        base64(&bytes)
    );
    let structured = RawValue::from_string(json)
        .unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid JSON"));
    Ok(Out::Split { text, structured })
}

#[cfg(test)]
#[path = "attachments_tests.rs"]
mod tests;
