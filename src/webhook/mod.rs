//! `POST /webhooks/scale`: Scale's callback receiver. It checks the
//! `scale-callback-auth` key and the declared size from the headers, only
//! then reads the body (capped at `WEBHOOK_MAX_BYTES`) in one strict pass, and
//! stores the delivery in the callback log before answering 2xx, so Scale
//! retries whatever could not be stored.

use crate::auth::matches_any;
use crate::callback_log::scan::{self, Node};
use crate::callback_log::{classify, store_classified, Stored};
use crate::config::Config;
use crate::http::{error_json, BodyError, Request, Response};
use crate::io::CallbackStore;
use crate::json::truncate;
use serde::Serialize;

/// A delivery's answer once it is logged: `{"stored": true, "id"}`, or
/// `{"stored": false, "duplicate_of"}` for one logged before.
#[derive(Serialize)]
struct Logged<'a> {
    stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<&'a str>,
}

/// `POST /webhooks/scale`: the operator's account, checked against
/// `SCALE_CALLBACK_AUTH_KEY`, into the store given (the operator's log).
pub async fn receive(
    req: &Request,
    cfg: &Config,
    store: Option<&dyn CallbackStore>,
    now_ms: u64,
) -> Response {
    if cfg.callback_keys.is_empty() {
        return error_json(503, "not_configured", "This receiver is not configured to accept callbacks.").log(
            "webhook: refused a delivery because SCALE_CALLBACK_AUTH_KEY is not set; set it to Scale's Live Callback Auth Key with `wrangler secret put SCALE_CALLBACK_AUTH_KEY`",
        );
    }
    accept(
        req,
        cfg,
        &|k| matches_any(k, &cfg.callback_keys),
        store,
        now_ms,
    )
    .await
}

/// A delivery whose `scale-callback-auth` header `key_ok` accepts, stored
/// in `store`: the operator's log, or a tenant's (`/webhooks/scale/{tenant}`).
pub async fn accept(
    req: &Request,
    cfg: &Config,
    key_ok: &dyn Fn(&str) -> bool,
    store: Option<&dyn CallbackStore>,
    now_ms: u64,
) -> Response {
    match req.header("scale-callback-auth") {
        Some(k) if key_ok(k.trim()) => {}
        Some(_) => {
            return error_json(401, "unauthorized", "invalid scale-callback-auth header")
                .log("webhook: refused a delivery with a wrong scale-callback-auth header")
        }
        None => {
            return error_json(401, "unauthorized", "missing scale-callback-auth header")
                .log("webhook: refused a delivery without a scale-callback-auth header")
        }
    }
    // Only now, with the sender known, is the body read.
    let bytes = match req.read_body(cfg.webhook_max_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return error_json(
                413,
                "too_large",
                &format!(
                    "callback bodies are limited to {} bytes (WEBHOOK_MAX_BYTES)",
                    cfg.webhook_max_bytes
                ),
            )
            .log("webhook: refused a delivery larger than WEBHOOK_MAX_BYTES")
        }
        // The sender went away mid-body; Scale retries what got no 2xx.
        Err(BodyError::Failed(_)) => {
            return error_json(400, "bad_request", "the request body could not be read")
        }
    };
    let body = match scan::scan(&bytes) {
        Ok(n @ Node::Obj(..)) => n,
        Ok(_) => return error_json(400, "bad_request", "a callback body must be a JSON object"),
        Err(m) => return error_json(400, "bad_request", &m),
    };
    let Some(kv) = store else {
        // 5xx so Scale keeps the delivery and retries once the binding exists.
        return error_json(
            503,
            "not_configured",
            "callback log storage is not available",
        )
        .log("webhook: the CALLBACKS KV namespace is not bound; add it to wrangler.toml");
    };
    let ttl = cfg.callback_ttl_days as u64 * 86_400;
    // The scan accepted the bytes, so they are UTF-8.
    let raw = std::str::from_utf8(&bytes).unwrap_or("null");
    let d = classify(&body);
    match store_classified(kv, &d, raw, now_ms, ttl).await {
        Ok(Stored::New(id)) => Response::json(
            200,
            &Logged {
                stored: true,
                id: Some(&id),
                duplicate_of: None,
            },
        )
        .log(format!(
            "webhook: stored {} callback {id} (task {}, status {})",
            d.kind,
            d.task_id
                .as_deref()
                .map(|t| truncate(t, 64))
                .unwrap_or_else(|| "-".into()),
            d.status
                .as_deref()
                .map(|t| truncate(t, 32))
                .unwrap_or_else(|| "-".into())
        )),
        Ok(Stored::Duplicate(id)) => Response::json(
            200,
            &Logged {
                stored: false,
                id: None,
                duplicate_of: Some(&id),
            },
        )
        .log(format!("webhook: duplicate delivery of {id} ignored")),
        Err(e) => error_json(
            503,
            "storage_failed",
            "the callback could not be stored; retry later",
        )
        .header("retry-after", "30")
        .log(format!(
            "webhook: KV write failed, answered 503 so Scale retries: {}",
            truncate(&e, 200)
        )),
    }
}

#[cfg(test)]
mod tests;
