//! The core's answer as the runtime's `Response`, whole or streamed, and the
//! request's log lines: one per request when its body has ended, plus each
//! audit line on its own.

use crate::http::{is_audit_line, BodyStream, Response as CoreResponse};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use wasm_bindgen::JsCast;
use worker::*;

/// The request's one line in the worker log, with the core's notes appended
/// (the path only, as query strings could carry tokens pasted by mistake),
/// and each audit line on its own, a JSON object whose fields Workers Logs
/// indexes.
fn log_line(head: &str, started: f64, notes: &[String]) {
    let mut line = format!("{head} in {} ms", (js_sys::Date::now() - started) as u64);
    for l in notes.iter().filter(|l| !is_audit_line(l)) {
        line.push_str(" | ");
        line.push_str(l);
    }
    console_log!("{line}");
    for a in notes.iter().filter(|l| is_audit_line(l)) {
        console_log!("{a}");
    }
}

/// A streamed body as the runtime reads it. The request's log line waits for
/// the end of the body (or for the client going away), when the work behind
/// it has added its notes.
///
/// The runtime asks for each chunk from a task of its own, and some futures
/// keep the first waker they saw (`worker::Delay` does), which would leave a
/// later read waiting forever. So the body is always polled with one waker,
/// [`Relay`], that passes each wake on to the read waiting now.
struct LoggedStream {
    inner: Box<dyn BodyStream>,
    relay: Arc<Relay>,
    head: String,
    notes: Vec<String>,
    started: f64,
    logged: bool,
}

/// Wakes whichever read of the body is waiting.
#[derive(Default)]
struct Relay(Mutex<Option<Waker>>);

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(w) = self.0.lock().ok().and_then(|g| g.clone()) {
            w.wake();
        }
    }
}

impl LoggedStream {
    fn poll_chunk(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Vec<u8>>> {
        if let Ok(mut current) = self.relay.0.lock() {
            *current = Some(cx.waker().clone());
        }
        let waker = Waker::from(self.relay.clone());
        self.inner
            .poll_chunk(&mut std::task::Context::from_waker(&waker))
    }

    fn finish(&mut self, how: &str) {
        if !self.logged {
            self.logged = true;
            self.notes.extend(self.inner.take_logs());
            log_line(&format!("{} ({how})", self.head), self.started, &self.notes);
        }
    }
}

impl Drop for LoggedStream {
    // The runtime drops the body when it cancels it; after a client went
    // away it may instead tear the request down, and this line is lost.
    fn drop(&mut self) {
        self.finish("stream closed before its end");
    }
}

/// The core's answer for the runtime; `head` starts its log line.
pub(super) fn to_response(out: CoreResponse, head: String, started: f64) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in &out.headers {
        headers.append(k, v)?;
    }
    let resp = if let Some(stream) = out.stream {
        let mut body = LoggedStream {
            inner: stream.0,
            relay: Arc::default(),
            head,
            notes: out.logs,
            started,
            logged: false,
        };
        let chunks = futures_util::stream::poll_fn(move |cx| match body.poll_chunk(cx) {
            Poll::Ready(None) => {
                body.finish("streamed");
                Poll::Ready(None)
            }
            Poll::Ready(Some(c)) => Poll::Ready(Some(Ok(js_sys::Uint8Array::from(&c[..]).into()))),
            Poll::Pending => Poll::Pending,
        });
        let raw = wasm_streams::ReadableStream::from_stream(chunks).into_raw();
        Response::from_body(ResponseBody::Stream(raw.unchecked_into()))?
    } else {
        log_line(&head, started, &out.logs);
        if out.body.is_empty() {
            Response::empty()?
        } else {
            Response::from_bytes(out.body)?
        }
    };
    Ok(resp.with_status(out.status).with_headers(headers))
}
