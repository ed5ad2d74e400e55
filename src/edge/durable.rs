//! What the two Durable Objects (`oauth_store`, `jobs`) share: the object's
//! side (its state, SQLite storage and the request it is sent, through a few
//! direct bindings) and the worker's side (one POST of a string to an
//! object, its answer's text back).
//!
//! The objects are declared by hand rather than with `#[durable_object]`:
//! that macro converts the request into `worker::Request` and the answer
//! from `worker::Response`, conversions linked for these objects alone
//! (about 3 KiB of the compressed upload); here the body is read and the
//! answer made through the bindings below.

use super::js::{js_err, wait};
use crate::io::BoxFut;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{wasm_bindgen_futures, ObjectNamespace};

#[wasm_bindgen]
extern "C" {
    /// An object's `DurableObjectState`, for its storage.
    pub type RawState;
    #[wasm_bindgen(method, getter)]
    pub(super) fn storage(this: &RawState) -> RawStorage;
    /// `DurableObjectStorage` (the jobs' object adds its alarm's methods).
    #[derive(Clone)]
    pub type RawStorage;
    #[wasm_bindgen(method, getter)]
    pub(super) fn sql(this: &RawStorage) -> RawSql;
    /// `SqlStorage`: `exec(query, ...bindings)` gives a cursor.
    #[derive(Clone)]
    pub type RawSql;
    #[wasm_bindgen(method, catch, variadic)]
    fn exec(this: &RawSql, query: &str, bindings: &Array) -> Result<RawCursor, JsValue>;
    type RawCursor;
    /// The rows as arrays of column values.
    #[wasm_bindgen(method)]
    fn raw(this: &RawCursor) -> JsValue;
    /// The request the worker's side sends (see [`call`]).
    pub type RawRequest;
    #[wasm_bindgen(method, catch)]
    fn text(this: &RawRequest) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = Response)]
    type RawResponse;
    #[wasm_bindgen(constructor, js_class = "Response")]
    fn new_text(body: &str, init: &Object) -> RawResponse;
}

/// An object's SQLite storage, for its synchronous queries.
pub(super) struct Sql<'a>(pub(super) &'a RawSql);

impl Sql<'_> {
    /// The rows `q` gives with `args` bound, each an array of its columns.
    pub(super) fn exec(&self, q: &str, args: &[JsValue]) -> Result<Vec<Array>, String> {
        let bindings: Array = args.iter().collect();
        let cursor = self
            .0
            .exec(q, &bindings)
            .map_err(|e| format!("sqlite: {}", js_err(e)))?;
        Ok(Array::from(&cursor.raw())
            .iter()
            .map(JsCast::unchecked_into)
            .collect())
    }
}

/// Column `i` of a row as text ("" when it is not text).
pub(super) fn text_of(row: &Array, i: u32) -> String {
    row.get(i).as_string().unwrap_or_default()
}

/// A number as an SQL binding.
pub(super) fn int(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// What an object does with a request's body: its answer's status and text.
pub(super) type Run = Box<dyn FnOnce(String) -> BoxFut<'static, (u16, String)>>;

/// An object's `fetch`: reads the request's body as text, runs `run` on it
/// and answers its text with its status.
pub(super) fn serve(req: RawRequest, run: Run) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let text = wasm_bindgen_futures::JsFuture::from(req.text()?).await?;
        let (status, body) = run(text.as_string().unwrap_or_default()).await;
        let init = Object::new();
        Reflect::set(&init, &"status".into(), &status.into())?;
        Ok(RawResponse::new_text(&body, &init).into())
    })
}

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub, for its `fetch(url, init)`: called directly
    /// rather than through `worker`'s Request and Response wrappers, which
    /// cost a few KB of wasm for one POST of a string.
    type RawStub;
    #[wasm_bindgen(method, js_name = fetch)]
    fn post(this: &RawStub, url: &str, init: &web_sys::RequestInit) -> Promise;
}

/// How long one call of an object may take. It answers in milliseconds;
/// past this the call is aborted and fails, rather than hold the request
/// (or the queue's batch) until the client gives up.
const CALL_TIMEOUT_MS: u32 = 10_000;

/// POSTs `body` to `url` of the object named `name` in `objects`: the
/// answer's text, or an error (an answer other than 200 with its status and
/// the start of its text).
pub(super) async fn call(
    objects: &ObjectNamespace,
    name: &str,
    url: &str,
    body: &str,
) -> Result<String, String> {
    let stub: RawStub = objects
        .get_by_name(name)
        .map_err(|e| e.to_string())?
        .into_rpc();
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(
        CALL_TIMEOUT_MS,
    )));
    let resp: web_sys::Response = wait(Ok(stub.post(url, &init))).await?.unchecked_into();
    let text = wait(resp.text()).await?.as_string().unwrap_or_default();
    if resp.status() != 200 {
        return Err(format!(
            "HTTP {}: {}",
            resp.status(),
            crate::json::truncate(&text, 200)
        ));
    }
    Ok(text)
}
