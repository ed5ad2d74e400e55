//! The thin edge: the Workers entry point and the I/O traits implemented
//! with `worker::Fetch`, Workers KV and the Rate Limiting binding.
//! Everything else is in the pure core.

use crate::app;
use crate::config::RawSettings;
use crate::http::{split_url, Request as CoreRequest, Response as CoreResponse};
use crate::io::{
    BoxFut, CallbackStore, InResponse, ListPage, ListedKey, OutRequest, RateLimiter, SendError,
    Services, Upstream,
};
use futures_util::StreamExt;
use serde_json::Value;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
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

fn method_of(m: crate::io::Method) -> Method {
    match m {
        crate::io::Method::Get => Method::Get,
        crate::io::Method::Post => Method::Post,
        crate::io::Method::Put => Method::Put,
        crate::io::Method::Delete => Method::Delete,
    }
}

async fn send_once(
    req: &OutRequest,
    signal: &AbortSignal,
) -> std::result::Result<InResponse, String> {
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(method_of(req.method))
        .with_headers(headers);
    if let Some(b) = &req.body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(b)));
    }
    let request = Request::new_with_init(&req.url, &init).map_err(|e| e.to_string())?;
    let resp = Fetch::Request(request)
        .send_with_signal(signal)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status_code();
    let headers = resp
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    // `Response::bytes` reads the stream chunk by chunk, a promise per chunk;
    // one arrayBuffer() is several times cheaper for a 300 KB task page.
    let body = array_buffer_bytes(web_sys::Response::from(resp).array_buffer())
        .await
        .map_err(|e| e.to_string())?;
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
                Some(Err(e)) => Err(SendError::Network(e)),
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

struct KvLog(KvStore);

impl CallbackStore for KvLog {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            // As bytes: a string would be decoded into a JS string here only
            // for KV to encode it back to UTF-8 (the entry can be 1 MB).
            self.0
                .put_bytes(key, value.as_bytes())
                .map_err(|e| e.to_string())?
                .expiration_ttl(ttl_secs)
                .metadata(metadata)
                .map_err(|e| e.to_string())?
                .execute()
                .await
                .map_err(|e| e.to_string())
        })
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, std::result::Result<Option<String>, String>> {
        Box::pin(async move { self.0.get(key).text().await.map_err(|e| e.to_string()) })
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, std::result::Result<ListPage, String>> {
        Box::pin(async move {
            let mut b = self.0.list().prefix(prefix.to_string()).limit(limit as u64);
            if let Some(c) = cursor {
                b = b.cursor(c.to_string());
            }
            let r = b.execute().await.map_err(|e| e.to_string())?;
            Ok(ListPage {
                keys: r
                    .keys
                    .into_iter()
                    .map(|k| ListedKey {
                        name: k.name,
                        metadata: k.metadata,
                    })
                    .collect(),
                cursor: if r.list_complete {
                    None
                } else {
                    r.cursor.filter(|c| !c.is_empty())
                },
            })
        })
    }
}

/// The `RATE_LIMITER` binding, called through its JavaScript API
/// (`limit({key})` resolving to `{success}`) rather than `worker`'s wrapper,
/// whose type check depends on the binding's class name.
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

impl RateLimiter for BindingLimiter {
    fn allow<'a>(&'a self, key: &'a str) -> BoxFut<'a, std::result::Result<bool, String>> {
        use wasm_bindgen::{JsCast, JsValue};
        Box::pin(async move {
            let limit: js_sys::Function =
                js_sys::Reflect::get(&self.0, &JsValue::from_str("limit"))
                    .map_err(js_text)?
                    .dyn_into()
                    .map_err(|_| "RATE_LIMITER has no limit() method".to_string())?;
            let arg = js_sys::Object::new();
            js_sys::Reflect::set(&arg, &JsValue::from_str("key"), &JsValue::from_str(key))
                .map_err(js_text)?;
            let promise: js_sys::Promise = limit
                .call1(&self.0, &arg)
                .map_err(js_text)?
                .dyn_into()
                .map_err(|_| "RATE_LIMITER.limit() did not return a promise".to_string())?;
            let out = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(js_text)?;
            js_sys::Reflect::get(&out, &JsValue::from_str("success"))
                .map_err(js_text)?
                .as_bool()
                .ok_or_else(|| "RATE_LIMITER.limit() gave no `success`".to_string())
        })
    }
}

/// Reads the body up to `limit` bytes; past it, stops and reports the size seen.
async fn read_body(req: &mut Request, limit: usize) -> (Vec<u8>, Option<u64>) {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => return (Vec::new(), declared),
        // The HTTP framing holds the body to its declared length, so it can be
        // read whole; only a body of unknown length needs the capped stream.
        Some(_) => {
            return match array_buffer_bytes(req.inner().array_buffer()).await {
                Ok(body) if body.len() <= limit => (body, None),
                Ok(body) => (Vec::new(), Some(body.len() as u64)),
                Err(_) => (Vec::new(), None),
            }
        }
        None => {}
    }
    let Ok(mut stream) = req.stream() else {
        return (Vec::new(), None);
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                body.extend_from_slice(&c);
                if body.len() > limit {
                    return (Vec::new(), Some(body.len() as u64));
                }
            }
            Err(_) => break,
        }
    }
    (body, None)
}

fn to_response(out: CoreResponse) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in &out.headers {
        headers.append(k, v)?;
    }
    let resp = if out.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(out.body)?
    };
    Ok(resp.with_status(out.status).with_headers(headers))
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let started = js_sys::Date::now();
    // The URL as a string, split by the core: parsing it with the `url` crate
    // would add its IDNA tables to the upload for nothing.
    let (self_origin, path) = split_url(&req.inner().url());
    let kv = env.kv("CALLBACKS").ok();
    let mut raw = RawSettings::read(
        |name| env.var(name).ok().map(|v| v.to_string()),
        kv.is_some(),
    );
    let limiter = js_sys::Reflect::get(&env, &wasm_bindgen::JsValue::from_str("RATE_LIMITER"))
        .ok()
        .filter(|b| b.is_object());
    raw.rate_limiter_bound = limiter.is_some();
    let method = req.method().to_string();
    let (body, declared_len) = match app::body_limit(&method, &path, &raw) {
        0 => (Vec::new(), None),
        limit => read_body(&mut req, limit).await,
    };
    let incoming = CoreRequest {
        method: method.clone(),
        path: path.clone(),
        self_origin,
        headers: req
            .headers()
            .entries()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body,
        declared_len,
    };
    let services = Services {
        upstream: Rc::new(FetchUpstream),
        store: kv.map(|kv| Rc::new(KvLog(kv)) as Rc<dyn CallbackStore>),
        limiter: limiter.map(|b| Rc::new(BindingLimiter(b)) as Rc<dyn RateLimiter>),
    };
    let out = app::handle(&incoming, &raw, services).await;
    // One console call per request, with the core's notes appended; the path
    // only, as query strings could carry tokens pasted by mistake.
    let mut line = format!(
        "{method} {path} -> {} in {} ms",
        out.status,
        (js_sys::Date::now() - started) as u64
    );
    for l in &out.logs {
        line.push_str(" | ");
        line.push_str(l);
    }
    console_log!("{line}");
    // Audit lines are JSON, one console.log each, so Workers Logs indexes
    // their fields.
    for a in &out.audit {
        console_log!("{a}");
    }
    to_response(out)
}
