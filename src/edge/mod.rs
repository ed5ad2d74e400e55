//! The thin edge: the Workers entry point, the request body as a source the
//! core reads only when it decides to, and the I/O traits implemented with
//! `worker::Fetch`, Workers KV and the Rate Limiting binding here and, for
//! OAuth, with WebCrypto and a Durable Object in [`oauth`]. Everything else
//! is in the pure core.

mod oauth;

use crate::app;
use crate::config::RawSettings;
use crate::http::{
    header_in, is_audit_line, query_of, split_url, Body, BodyError, BodySource, BodyStream,
    LocalFut, Request as CoreRequest, Response as CoreResponse,
};
use crate::io::{
    BoxFut, CallbackStore, InResponse, ListPage, ListedKey, OutRequest, RateLimiter, SendError,
    Services, Upstream,
};
use futures_util::StreamExt;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;
use wasm_bindgen::JsCast;
use worker::*;

struct FetchUpstream;

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

/// Reads a stream to its end, or stops (`None`) once more than `cap` bytes
/// arrived; dropping the stream cancels the rest.
async fn read_capped(mut stream: ByteStream, cap: usize) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > cap {
            return Ok(None);
        }
    }
    Ok(Some(body))
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

/// The `CALLBACKS` KV namespace, called through its JavaScript API rather
/// than `worker`'s `KvStore`, whose options and listings go through
/// serde-wasm-bindgen: it was that crate's last user here, and leaving it out
/// took about 12 KiB off the compressed upload. Options are built as JSON
/// and parsed by the runtime, and a listing comes back as JSON.
struct KvLog(wasm_bindgen::JsValue);

impl KvLog {
    /// Calls the namespace's method `name` and waits for its promise.
    async fn call(
        &self,
        name: &str,
        args: &js_sys::Array,
    ) -> std::result::Result<wasm_bindgen::JsValue, String> {
        let f: js_sys::Function = js_sys::Reflect::get(&self.0, &name.into())
            .map_err(js_text)?
            .dyn_into()
            .map_err(|_| format!("CALLBACKS has no {name}() method"))?;
        let out = f.apply(&self.0, args).map_err(js_text)?;
        wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&out))
            .await
            .map_err(js_text)
    }
}

/// A JSON text as a JavaScript value.
fn js_json<T: serde::Serialize>(v: &T) -> std::result::Result<wasm_bindgen::JsValue, String> {
    let text = serde_json::to_string(v).map_err(|e| e.to_string())?;
    js_sys::JSON::parse(&text).map_err(js_text)
}

#[derive(serde::Serialize)]
struct PutOptions<'a> {
    #[serde(rename = "expirationTtl")]
    expiration_ttl: u64,
    metadata: &'a Value,
}

#[derive(serde::Serialize)]
struct ListOptions<'a> {
    prefix: &'a str,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
}

impl CallbackStore for KvLog {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            let options = js_json(&PutOptions {
                expiration_ttl: ttl_secs,
                metadata,
            })?;
            // As bytes: a string would be decoded into a JS string here only
            // for KV to encode it back to UTF-8 (the entry can be 1 MB).
            let bytes = js_sys::Uint8Array::from(value.as_bytes()).buffer();
            let args = js_sys::Array::of3(&key.into(), &bytes, &options);
            self.call("put", &args).await.map(|_| ())
        })
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, std::result::Result<Option<String>, String>> {
        Box::pin(async move {
            let args = js_sys::Array::of2(&key.into(), &"text".into());
            Ok(self.call("get", &args).await?.as_string())
        })
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, std::result::Result<ListPage, String>> {
        Box::pin(async move {
            let options = js_json(&ListOptions {
                prefix,
                limit,
                cursor,
            })?;
            let out = self.call("list", &js_sys::Array::of1(&options)).await?;
            let text: String = js_sys::JSON::stringify(&out).map_err(js_text)?.into();
            let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let keys = match r.get("keys") {
                Some(Value::Array(k)) => k,
                _ => return Err("CALLBACKS.list() gave no `keys`".to_string()),
            };
            Ok(ListPage {
                keys: keys
                    .iter()
                    .filter_map(|k| {
                        Some(ListedKey {
                            name: k.get("name")?.as_str()?.to_string(),
                            metadata: k.get("metadata").filter(|m| !m.is_null()).cloned(),
                        })
                    })
                    .collect(),
                cursor: match (r.get("list_complete"), r.get("cursor")) {
                    (Some(Value::Bool(false)), Some(Value::String(c))) if !c.is_empty() => {
                        Some(c.clone())
                    }
                    _ => None,
                },
            })
        })
    }
}

/// A rate limiting binding (`RATE_LIMITER`, `AUTH_LIMITER`), called through
/// a binding of its own rather than `worker`'s wrapper, whose type check
/// depends on the binding's class name (and smaller than calls through
/// `Reflect`).
struct BindingLimiter(wasm_bindgen::JsValue);

fn js_text(e: wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "the binding threw".to_string())
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A rate limiting binding: `limit({key})` resolves to `{success}`.
    type RawLimiter;
    #[wasm_bindgen(method, catch)]
    fn limit(
        this: &RawLimiter,
        options: &js_sys::Object,
    ) -> std::result::Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;
}

impl RateLimiter for BindingLimiter {
    fn allow<'a>(&'a self, key: &'a str) -> BoxFut<'a, std::result::Result<bool, String>> {
        use wasm_bindgen::JsValue;
        Box::pin(async move {
            let arg = js_sys::Object::new();
            js_sys::Reflect::set(&arg, &JsValue::from_str("key"), &JsValue::from_str(key))
                .map_err(js_text)?;
            // Called as a method, so a binding without `limit` throws here
            // (and is caught) rather than in the runtime.
            let out = self
                .0
                .unchecked_ref::<RawLimiter>()
                .limit(&arg)
                .map_err(js_text)?;
            let out = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&out))
                .await
                .map_err(js_text)?;
            js_sys::Reflect::get(&out, &JsValue::from_str("success"))
                .map_err(js_text)?
                .as_bool()
                .ok_or_else(|| "limit() gave no `success`".to_string())
        })
    }
}

/// The request's body, left unread until the core asks for it.
struct EdgeBody(RefCell<Option<Request>>);

impl BodySource for EdgeBody {
    fn read(&self, cap: usize) -> LocalFut<'_, std::result::Result<Vec<u8>, BodyError>> {
        let req = self.0.borrow_mut().take();
        Box::pin(async move {
            let failed = |e: Error| BodyError::Failed(e.to_string());
            let Some(mut req) = req else {
                return Err(BodyError::Failed("the body was already read".into()));
            };
            // Streamed and capped: the core refused a declared length above
            // the cap before asking, and a body of unknown length stops at it.
            match req.stream() {
                Ok(s) => read_capped(s, cap)
                    .await
                    .map_err(failed)?
                    .ok_or(BodyError::TooLarge),
                // No body at all.
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}

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

fn to_response(out: CoreResponse, head: String, started: f64) -> Result<Response> {
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

/// The most of a refused request's body read (and dropped) so that its
/// answer reaches the client.
const DRAIN_BYTES: usize = 64 * 1024;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let started = js_sys::Date::now();
    // The URL as a string, split by the core: parsing it with the `url` crate
    // would add its IDNA tables to the upload for nothing.
    let url = req.inner().url();
    let (self_origin, path) = split_url(&url);
    let kv = js_sys::Reflect::get(&env, &wasm_bindgen::JsValue::from_str("CALLBACKS"))
        .ok()
        .filter(|b| b.is_object());
    let mut raw = RawSettings::read(
        |name| env.var(name).ok().map(|v| v.to_string()),
        kv.is_some(),
    );
    let binding = |name: &str| {
        js_sys::Reflect::get(&env, &wasm_bindgen::JsValue::from_str(name))
            .ok()
            .filter(|b| b.is_object())
            .map(|b| Rc::new(BindingLimiter(b)) as Rc<dyn RateLimiter>)
    };
    let limiter = binding("RATE_LIMITER");
    raw.rate_limiter_bound = limiter.is_some();
    let method = req.method().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let small = header_in(&headers, "content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| n <= DRAIN_BYTES);
    let incoming = CoreRequest {
        method: method.clone(),
        path: path.clone(),
        query: query_of(&url),
        self_origin,
        headers,
        body: Body::new(EdgeBody(RefCell::new(Some(req)))),
    };
    let services = Services {
        upstream: Rc::new(FetchUpstream),
        store: kv.map(|kv| Rc::new(KvLog(kv)) as Rc<dyn CallbackStore>),
        limiter,
        auth_limiter: binding("AUTH_LIMITER"),
        oauth: oauth::platform(&env),
        crypto: Rc::new(oauth::WebCrypto),
    };
    let out = app::handle(&incoming, &raw, services).await;
    // A body the core refused without reading makes the runtime drop the
    // connection, and a keep-alive client loses its next request with it. So
    // one declared small is read to its end, and dropped, before the answer
    // goes out; a large one is not worth reading only to refuse it. (Started
    // in the background instead, the read could still be under way when the
    // request ended: under `wrangler dev` 36 refusals in 800 broke the
    // proxy's connection to the worker, and the next request on it got 503.)
    if small {
        let _ = incoming.body.read(DRAIN_BYTES).await;
    }
    let head = format!("{method} {path} -> {}", out.status);
    to_response(out, head, started)
}
