//! The platform's cryptography with WebCrypto, so no Rust cipher is in the
//! upload (the OAuth server and task handles seal with it): [`Crypto`]'s
//! randomness, and AES-256-GCM sealing and opening (a fresh 12-byte IV
//! before each ciphertext).

use super::js::{js_err, wait};
use crate::io::{BoxFut, Crypto};
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, SubtleCrypto};

/// WebCrypto, found on the global scope.
pub(super) struct WebCrypto;

fn subtle() -> std::result::Result<SubtleCrypto, String> {
    let c = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(js_err)?;
    Ok(c.unchecked_into::<web_sys::Crypto>().subtle())
}

/// `{name: "AES-GCM", iv}`.
fn aes_gcm(iv: &[u8]) -> Object {
    let o = Object::new();
    let _ = Reflect::set(&o, &"name".into(), &"AES-GCM".into());
    let _ = Reflect::set(&o, &"iv".into(), &Uint8Array::from(iv));
    o
}

thread_local! {
    /// The key last imported, kept for the isolate's life: a task poll opens
    /// an id under the same key every time, and an import costs about as
    /// much as the decryption itself.
    static LAST: RefCell<Option<([u8; 32], CryptoKey)>> = const { RefCell::new(None) };
}

/// WebCrypto's `subtle`, and the raw AES-256-GCM key `raw` imported for
/// sealing and opening.
async fn import(raw: &[u8; 32]) -> std::result::Result<(SubtleCrypto, CryptoKey), String> {
    let s = subtle()?;
    let kept = LAST.with_borrow(|l| l.as_ref().filter(|(r, _)| r == raw).map(|(_, k)| k.clone()));
    if let Some(k) = kept {
        return Ok((s, k));
    }
    let bytes: Object = Uint8Array::from(&raw[..]).into();
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let k: CryptoKey = wait(s.import_key_with_str("raw", &bytes, "AES-GCM", false, &usages))
        .await?
        .unchecked_into();
    LAST.with_borrow_mut(|l| *l = Some((*raw, k.clone())));
    Ok((s, k))
}

fn bytes(v: &JsValue) -> Vec<u8> {
    Uint8Array::new(v).to_vec()
}

impl Crypto for WebCrypto {
    fn random(&self, buf: &mut [u8]) -> std::result::Result<(), String> {
        getrandom::fill(buf).map_err(|e| e.to_string())
    }
    fn seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        plain: &'a [u8],
    ) -> BoxFut<'a, std::result::Result<Vec<u8>, String>> {
        Box::pin(async move {
            let mut iv = [0u8; 12];
            self.random(&mut iv)?;
            let (s, k) = import(key).await?;
            let ct = wait(s.encrypt_with_object_and_u8_array(&aes_gcm(&iv), &k, plain)).await?;
            Ok([&iv[..], &bytes(&ct)].concat())
        })
    }
    fn open<'a>(
        &'a self,
        key: &'a [u8; 32],
        sealed: &'a [u8],
    ) -> BoxFut<'a, std::result::Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            if sealed.len() < 12 + 16 {
                return Ok(None);
            }
            let (s, k) = import(key).await?;
            // Another key or a changed byte fails the tag check.
            Ok(
                wait(s.decrypt_with_object_and_u8_array(
                    &aes_gcm(&sealed[..12]),
                    &k,
                    &sealed[12..],
                ))
                .await
                .ok()
                .map(|p| bytes(&p)),
            )
        })
    }
}
