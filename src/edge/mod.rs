//! The thin edge, the only code with `worker` types: the Workers entry points
//! ([`fetch`] here, which reads the settings and bindings into the core's
//! `Services` ([`platform`]), calls [`app::handle`] and writes its answer
//! back; the jobs queue's consumer in `queue`, only in the jobs worker's build);
//! and one file per binding,
//! each implementing an `io` trait of the core:
//! - `upstream`: outbound HTTP (`Upstream`) with the runtime's `fetch`;
//! - `kv`: the `CALLBACKS` KV namespace (`CallbackStore`);
//! - `rate_limit`: the `RATE_LIMITER` and `AUTH_LIMITER` bindings (`RateLimiter`);
//! - `oauth_store`: the `OAUTH` Durable Object and its client (`StateStore`),
//!   and `crypto`: WebCrypto (`Crypto`), which with the isolate's memos make
//!   the OAuth platform;
//! - `jobs`: the `JOBS` queue's producer and the `JOBS_STATE` Durable
//!   Objects, one per job, and their client (`Jobs`);
//! - `durable`: what the two Durable Objects and their clients share;
//! - `request` and `response`: the request's body as a source the core reads
//!   when it decides to, and the answer, whole or streamed, with the
//!   request's log lines;
//! - `js`: thrown values and promises in Rust's terms.
//!
//! Everything else is in the pure core.

mod crypto;
mod durable;
mod jobs;
mod js;
mod kv;
mod oauth_store;
// The jobs worker's entry point (wrangler.jobs.toml, docs/jobs.md §9): the
// worker agents talk to is built without it.
#[cfg(feature = "jobs-worker")]
mod queue;
// The jobs' Durable Object, also defined by the jobs worker alone.
#[cfg(feature = "jobs-worker")]
mod job_store;
mod rate_limit;
mod request;
mod response;
mod upstream;

use crate::app;
use crate::config::RawSettings;
use crate::http::{header_in, query_of, split_url, Body, Request as CoreRequest};
use crate::io::state::Memo;
use crate::io::{CallbackStore, Jobs, OAuthPlatform, RateLimiter, Services};
use crypto::WebCrypto;
use kv::KvLog;
use rate_limit::BindingLimiter;
use request::EdgeBody;
use response::to_response;
use std::cell::RefCell;
use std::rc::Rc;
use upstream::FetchUpstream;
use worker::*;

thread_local! {
    /// What this isolate remembers between requests (see `io::state::Memo`).
    static MEMO: Rc<Memo> = Rc::default();
    /// Metadata documents that failed, for a minute (see `OAuthPlatform`).
    static FAILED_DOCS: Rc<Memo> = Rc::default();
    /// The digest of the settings (`RawSettings::compute_digest`).
    static DIGEST: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
}

/// The OAuth platform, when the `OAUTH` Durable Object is bound.
fn oauth_platform(env: &Env) -> Option<OAuthPlatform> {
    let store = oauth_store::client(env)?;
    Some(OAuthPlatform {
        failed_docs: FAILED_DOCS.with(Rc::clone),
        state: Rc::new(store),
        memo: MEMO.with(Rc::clone),
    })
}

/// The settings and the platform's services, as every entry point reads
/// them from its environment.
fn platform(env: &Env) -> (RawSettings, Services) {
    let bound = |name: &str| {
        js_sys::Reflect::get(env, &wasm_bindgen::JsValue::from_str(name))
            .ok()
            .filter(|b| b.is_object())
    };
    let kv = bound("CALLBACKS");
    let mut raw = RawSettings::read(
        |name| env.var(name).ok().map(|v| v.to_string()),
        kv.is_some(),
    );
    // The settings are the deployment's: the same for every request of the
    // isolate, so their digest is worked out once.
    raw.digest = DIGEST.with(|d| d.get_or_init(|| raw.compute_digest()).clone());
    let limiter =
        |name: &str| bound(name).map(|b| Rc::new(BindingLimiter(b)) as Rc<dyn RateLimiter>);
    let services = Services {
        upstream: Rc::new(FetchUpstream),
        store: kv.map(|kv| Rc::new(KvLog(kv)) as Rc<dyn CallbackStore>),
        limiter: limiter("RATE_LIMITER"),
        auth_limiter: limiter("AUTH_LIMITER"),
        oauth: oauth_platform(env),
        crypto: Rc::new(WebCrypto),
        jobs: jobs::client(env).map(|j| Rc::new(j) as Rc<dyn Jobs>),
    };
    raw.rate_limiter_bound = services.limiter.is_some();
    (raw, services)
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
    let (raw, services) = platform(&env);
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
