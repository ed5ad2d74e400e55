//! The rate limiting bindings (`RATE_LIMITER` per caller, `AUTH_LIMITER` per
//! address for refused tokens) as [`RateLimiter`].

use super::js::js_text;
use crate::io::{BoxFut, RateLimiter};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures;

/// A rate limiting binding (`RATE_LIMITER`, `AUTH_LIMITER`), called through
/// a binding of its own rather than `worker`'s wrapper, whose type check
/// depends on the binding's class name (and smaller than calls through
/// `Reflect`).
pub(super) struct BindingLimiter(pub(super) wasm_bindgen::JsValue);

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
