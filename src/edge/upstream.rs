//! Outbound HTTP: [`Upstream`] with the runtime's global `fetch`, each
//! attempt bounded by a timeout that aborts it, and the answer read whole
//! or streamed up to the request's size limit.

use super::request::read_capped;
use crate::http::header_in;
use crate::io::{BoxFut, InResponse, OutRequest, SendError, Upstream};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use wasm_bindgen::JsCast;
use worker::*;

/// Scale and the other hosts the core calls, through `fetch`.
pub(super) struct FetchUpstream;

/// Resolves to `Some(output)`, or `None` if `ms` passed first.
async fn with_timeout<F: Future>(fut: F, ms: u32) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut delay = pin!(Delay::from(Duration::from_millis(ms as u64)));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if delay.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

fn method_of(m: crate::io::Method) -> &'static str {
    match m {
        crate::io::Method::Get => "GET",
        crate::io::Method::Post => "POST",
        crate::io::Method::Put => "PUT",
        crate::io::Method::Delete => "DELETE",
    }
}

async fn send_once(
    req: &OutRequest,
    signal: &AbortSignal,
) -> std::result::Result<InResponse, SendError> {
    let net = |e: Error| SendError::Network(e.to_string());
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(net)?;
    }
    // `web_sys`'s init rather than `worker::RequestInit`: converting the
    // latter serialises its `cf` properties through serde-wasm-bindgen, about
    // 6 KiB of the compressed upload for a field this worker never sets.
    let init = web_sys::RequestInit::new();
    init.set_method(method_of(req.method));
    init.set_headers(&headers.0);
    if req.no_redirects {
        init.set_redirect(web_sys::RequestRedirect::Manual);
    }
    if let Some(b) = &req.body {
        init.set_body(&wasm_bindgen::JsValue::from_str(b));
    }
    init.set_signal(Some(&**signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let sent =
        wasm_bindgen_futures::JsFuture::from(global.fetch_with_str_and_init(&req.url, &init))
            .await
            .and_then(|r| r.dyn_into::<web_sys::Response>());
    let mut resp =
        Response::from(sent.map_err(|e| SendError::from_platform(Error::from(e).to_string()))?);
    let status = resp.status_code();
    let headers: Vec<(String, String)> = resp
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let cap = req.max_response_bytes;
    let declared = header_in(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    // A compressed body is inflated as it is read, so its declared length says little.
    let plain = header_in(&headers, "content-encoding")
        .is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"));
    let body = match declared {
        Some(n) if n > cap as u64 => return Err(SendError::TooLarge(status)),
        // `Response::bytes` reads the stream chunk by chunk, a promise per chunk;
        // one arrayBuffer() is several times cheaper for a 300 KB task page.
        Some(_) if plain => array_buffer_bytes(web_sys::Response::from(resp).array_buffer())
            .await
            .map_err(net)?,
        _ => match resp.stream() {
            Ok(s) => read_capped(s, cap)
                .await
                .map_err(net)?
                .ok_or(SendError::TooLarge(status))?,
            Err(_) => Vec::new(),
        },
    };
    Ok(InResponse {
        status,
        headers,
        body,
    })
}

/// The bytes of a body read whole with `arrayBuffer()`.
async fn array_buffer_bytes(
    promise: std::result::Result<js_sys::Promise, wasm_bindgen::JsValue>,
) -> Result<Vec<u8>> {
    let buf = wasm_bindgen_futures::JsFuture::from(promise?).await?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

impl Upstream for FetchUpstream {
    fn send<'a>(
        &'a self,
        req: &'a OutRequest,
        timeout_ms: u32,
    ) -> BoxFut<'a, std::result::Result<InResponse, SendError>> {
        Box::pin(async move {
            let controller = AbortController::default();
            let signal = controller.signal();
            match with_timeout(send_once(req, &signal), timeout_ms).await {
                Some(Ok(r)) => Ok(r),
                Some(Err(e)) => {
                    // Nothing more of an answer we refused is wanted.
                    controller.abort();
                    Err(e)
                }
                None => {
                    // Abort so the connection is not left running after we give up.
                    controller.abort();
                    Err(SendError::Timeout(timeout_ms))
                }
            }
        })
    }
    fn sleep(&self, ms: u32) -> BoxFut<'_, ()> {
        Box::pin(Delay::from(Duration::from_millis(ms as u64)))
    }
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }
}
