//! JavaScript's failures in Rust's terms, for the bindings' code: a thrown
//! value as text, and a promise awaited as a `Result`.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures;

/// A thrown value as text (the KV namespace's and the rate limiters'): a
/// string as it is, an `Error` as its message.
pub(super) fn js_text(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "the binding threw".to_string())
}

/// A thrown value as text (WebCrypto's and the OAuth store's): a string as
/// it is, else its `message`.
pub(super) fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| Reflect::get(&e, &"message".into()).ok()?.as_string())
        .unwrap_or_else(|| "WebCrypto failed".into())
}

/// Waits for a promise; its rejection (or a failure to make it) as text.
pub(super) async fn wait(
    p: std::result::Result<Promise, JsValue>,
) -> std::result::Result<JsValue, String> {
    wasm_bindgen_futures::JsFuture::from(p.map_err(js_err)?)
        .await
        .map_err(js_err)
}
