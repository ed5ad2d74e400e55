//! The callback log's store: [`CallbackStore`] with the `CALLBACKS` Workers
//! KV namespace.

use super::js::js_text;
use crate::io::{BoxFut, CallbackStore, ListPage, ListedKey};
use serde_json::Value;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures;

/// The `CALLBACKS` KV namespace, called through its JavaScript API rather
/// than `worker`'s `KvStore`, whose options and listings go through
/// serde-wasm-bindgen: it was that crate's last user here, and leaving it out
/// took about 12 KiB off the compressed upload. Options are built as JSON
/// and parsed by the runtime, and a listing comes back as JSON.
pub(super) struct KvLog(pub(super) wasm_bindgen::JsValue);

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
