//! The webhook receivers' routes: `/webhooks/scale` for the operator's
//! Scale account and `/webhooks/scale/{tenant}` for a user signed in with
//! their own key. Each is checked only against the settings the receivers
//! use ([`Config::for_webhooks`]), so a mistake elsewhere cannot make Scale's
//! deliveries fail; the receiving itself is `crate::webhook`'s.

use super::settings::misconfigured;
use crate::callback_log::TenantLog;
use crate::config::{Config, RawSettings};
use crate::http::{error_json, Request, Response};
use crate::io::{CallbackStore, Services};

/// `/webhooks/scale`: deliveries from the operator's Scale account, checked
/// against `SCALE_CALLBACK_AUTH_KEY` and kept in the operator's callback log.
pub(super) async fn operator(
    req: &Request,
    method: &str,
    raw: &RawSettings,
    services: &Services,
) -> Response {
    if let Some(refused) = not_post(method) {
        return refused;
    }
    match Config::for_webhooks(raw) {
        Ok(cfg) => {
            let now = services.upstream.now_ms();
            crate::webhook::receive(req, &cfg, services.store.as_deref(), now).await
        }
        // Scale retries 5xx, so a delivery that arrives during a bad deploy is not lost.
        Err(errs) => misconfigured(req, raw, &errs),
    }
}

/// `/webhooks/scale/{tenant}`: deliveries from the Scale account of a user
/// signed in with their own key, checked against the callback auth key that
/// user gave at sign-in (kept only as a hash) and kept in that tenant's part
/// of the callback log.
pub(super) async fn tenant(
    req: &Request,
    method: &str,
    raw: &RawSettings,
    services: &Services,
) -> Response {
    if let Some(refused) = not_post(method) {
        return refused;
    }
    let cfg = match Config::for_webhooks(raw) {
        Ok(c) => c,
        Err(errs) => return misconfigured(req, raw, &errs),
    };
    let tenant = &req.path["/webhooks/scale/".len()..];
    let stored = match crate::oauth::tenant_callback_hash(&cfg, services, tenant).await {
        Ok(Some(h)) => h,
        Ok(None) => return error_json(404, "not_found", "No account signed in with its own Scale key has this webhook URL. Copy it from the grants page (/oauth/grants)."),
        // 5xx, so Scale retries the delivery.
        Err(e) => {
            return error_json(503, "temporarily_unavailable", "The webhook's key cannot be checked right now; retry later.")
                .header("retry-after", "30")
                .log(format!("webhook: the OAuth store failed: {}", crate::json::truncate(&e, 200)))
        }
    };
    if stored.is_empty() {
        return error_json(401, "unauthorized", "No callback auth key was given for this webhook URL: sign in again with your own Scale key and enter Scale's Live Callback Auth Key.")
            .log("webhook: refused a tenant delivery: that tenant gave no callback auth key");
    }
    let log = services.store.clone().map(|s| TenantLog::new(s, tenant));
    let key_ok = |k: &str| crate::oauth::callback_key_matches(&stored, k);
    let now = services.upstream.now_ms();
    crate::webhook::accept(
        req,
        &cfg,
        &key_ok,
        log.as_ref().map(|l| l as &dyn CallbackStore),
        now,
    )
    .await
}

/// Scale only POSTs callbacks: anything else is told so.
fn not_post(method: &str) -> Option<Response> {
    (method != "POST").then(|| {
        error_json(
            405,
            "method_not_allowed",
            "POST Scale callbacks to this URL",
        )
        .header("allow", "POST")
    })
}
