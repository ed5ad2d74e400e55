//! Streamed answers. A `tools/call` of a tool that reports progress, from a
//! client that sent `params._meta.progressToken` and accepts
//! `text/event-stream`, is answered with an SSE stream: a
//! `notifications/progress` event for each report while the tool runs, then
//! the response, then the end of the stream (both protocol lanes). Every
//! other request is answered whole, as before.
//!
//! The stream owns what the tool needs (the request's [`Ctx`] is all `Rc`s),
//! so the tool runs as the client reads, after the handler has returned;
//! the client closing the stream drops it, and the tool with it. A silence
//! of [`KEEPALIVE_MS`] gets an SSE comment, so that proxies that drop idle
//! connections keep this one.
//!
//! The SSE framing itself is here too: an event, and an answer's headers
//! (the transport frames whole answers with them when a client accepts only
//! SSE).

use super::lane::Lane;
use super::methods;
use super::model::{ProgressNotification, ProgressParams, JSONRPC};
use super::rpc::write_response;
use crate::auth::Principal;
use crate::context::{Ctx, Progress};
use crate::http::{BodyStream, Request as HttpIn, Response};
use crate::io::{BoxFut, Upstream};
use crate::tools;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll};

/// The longest silence on a streamed answer before a keep-alive comment.
pub const KEEPALIVE_MS: u32 = 15_000;

/// The progress token of a request that gets a streamed answer, or `None`
/// when it is answered whole.
pub fn progress_token(
    req: &HttpIn,
    principal: &Principal,
    method: &str,
    params: &Map<String, Value>,
) -> Option<Value> {
    if method != "tools/call" || !accepts_sse(req.header("accept")) {
        return None;
    }
    let token = params.get("_meta")?.get("progressToken")?;
    // The schema's ProgressToken: a string or an integer.
    if !(token.is_string() || token.is_i64() || token.is_u64()) {
        return None;
    }
    let name = params.get("name")?.as_str()?;
    // A call the principal lacks the scope for is answered whole, so a
    // signed-in user gets the 403 of docs/permissions.md §2 rather than a
    // refusal inside a stream.
    tools::find(name).filter(|(_, t)| t.progress && principal.scopes.allows(t.scope))?;
    Some(token.clone())
}

/// Starts the streamed answer to one request; the tool runs as it is read.
pub fn respond(
    id: Value,
    method: String,
    params: Map<String, Value>,
    token: Value,
    lane: Lane,
    cx: &Ctx,
) -> Response {
    let progress = Rc::new(Progress::default());
    let cx = Ctx {
        progress: Some(progress.clone()),
        single: false,
        ..cx.clone()
    };
    let notes = cx.notes.clone();
    let upstream = cx.services.upstream.clone();
    let work: BoxFut<'static, Vec<u8>> = Box::pin(async move {
        let result = methods::dispatch(&method, params, lane, &cx).await;
        let mut out = Vec::new();
        write_response(&mut out, &id, &result);
        out
    });
    sse_response(200).stream(ProgressStream {
        work: Some(work),
        progress,
        token,
        queued: VecDeque::new(),
        keepalive: None,
        upstream,
        notes,
    })
}

/// The SSE body of a streamed answer.
pub struct ProgressStream {
    /// The call, until it has produced its response.
    work: Option<BoxFut<'static, Vec<u8>>>,
    progress: Rc<Progress>,
    token: Value,
    /// Events ready to send, in order.
    queued: VecDeque<Vec<u8>>,
    keepalive: Option<BoxFut<'static, ()>>,
    upstream: Rc<dyn Upstream>,
    notes: Rc<RefCell<Vec<String>>>,
}

impl ProgressStream {
    /// Turns the reports made since the last poll into events.
    fn queue_reports(&mut self) {
        for r in self.progress.take() {
            let n = ProgressNotification {
                jsonrpc: JSONRPC,
                method: "notifications/progress",
                params: ProgressParams {
                    progress_token: &self.token,
                    progress: r.progress,
                    total: r.total,
                    message: &r.message,
                },
            };
            if let Ok(text) = serde_json::to_vec(&n) {
                self.queued.push_back(sse_event(&text));
            }
        }
    }
}

impl BodyStream for ProgressStream {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        if self.queued.is_empty() {
            if let Some(work) = &mut self.work {
                let polled = work.as_mut().poll(cx);
                // Reports made during this poll go out before anything after them.
                self.queue_reports();
                if let Poll::Ready(response) = polled {
                    self.work = None;
                    self.queued.push_back(sse_event(&response));
                }
            }
        }
        if let Some(event) = self.queued.pop_front() {
            self.keepalive = None;
            return Poll::Ready(Some(event));
        }
        if self.work.is_none() {
            return Poll::Ready(None);
        }
        let up = self.upstream.clone();
        let timer = self
            .keepalive
            .get_or_insert_with(|| Box::pin(async move { up.sleep(KEEPALIVE_MS).await }));
        if timer.as_mut().poll(cx).is_ready() {
            self.keepalive = None;
            return Poll::Ready(Some(b": keep-alive\n\n".to_vec()));
        }
        Poll::Pending
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

/// Whether the client named `text/event-stream` among the types it accepts
/// (clients that can read a streamed answer say so).
fn accepts_sse(accept: Option<&str>) -> bool {
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

/// One SSE event carrying one JSON-RPC message.
pub(super) fn sse_event(data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(data.len() + 24);
    e.extend_from_slice(b"event: message\ndata: ");
    e.extend_from_slice(data);
    e.extend_from_slice(b"\n\n");
    e
}

/// The headers of an SSE answer.
pub(super) fn sse_response(status: u16) -> Response {
    Response::new(status)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::{services, FakeUpstream};
    use crate::scale::testing::config;
    use std::task::Waker;

    /// A stream around `work`, which may report through the context it gets.
    fn stream_of(
        up: &FakeUpstream,
        work: impl FnOnce(Ctx) -> BoxFut<'static, Vec<u8>>,
    ) -> ProgressStream {
        let progress = Rc::new(Progress::default());
        let mut cx = Ctx::full_access(config(), services(up, None));
        cx.progress = Some(progress.clone());
        ProgressStream {
            work: Some(work(cx.clone())),
            progress,
            token: Value::from("t"),
            queued: VecDeque::new(),
            keepalive: None,
            upstream: cx.services.upstream.clone(),
            notes: cx.notes.clone(),
        }
    }

    fn poll(s: &mut ProgressStream) -> Poll<Option<String>> {
        let mut cx = Context::from_waker(Waker::noop());
        s.poll_chunk(&mut cx)
            .map(|c| c.map(|b| String::from_utf8(b).unwrap()))
    }

    #[test]
    fn reports_go_out_before_keepalives_and_silence_gets_a_comment() {
        let up = FakeUpstream::new();
        let mut s = stream_of(&up, |cx| {
            Box::pin(async move {
                cx.report(1.0, Some(2.0), "half".into());
                std::future::pending::<()>().await;
                Vec::new()
            })
        });
        let Poll::Ready(Some(first)) = poll(&mut s) else {
            panic!("the report comes first")
        };
        assert_eq!(
            first,
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"t\",\"progress\":1.0,\"total\":2.0,\"message\":\"half\"}}\n\n"
        );
        assert!(
            up.sleeps.borrow().is_empty(),
            "no timer while there is news"
        );
        // The work is still running and says nothing: a keep-alive comment
        // once the timer (immediate with the fakes) has run out.
        assert_eq!(poll(&mut s), Poll::Ready(Some(": keep-alive\n\n".into())));
        assert_eq!(*up.sleeps.borrow(), vec![KEEPALIVE_MS]);
    }

    #[test]
    fn the_response_ends_the_stream() {
        let up = FakeUpstream::new();
        let mut s = stream_of(&up, |cx| {
            Box::pin(async move {
                cx.note("done".into());
                b"{\"id\":1}".to_vec()
            })
        });
        assert_eq!(
            poll(&mut s),
            Poll::Ready(Some("event: message\ndata: {\"id\":1}\n\n".into()))
        );
        assert_eq!(poll(&mut s), Poll::Ready(None));
        assert_eq!(s.take_logs(), ["done"]);
        assert!(up.sleeps.borrow().is_empty());
    }
}
