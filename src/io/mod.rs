//! The seams between the pure core and the platform: an upstream HTTP client,
//! the callback store and the rate limiter, bundled as [`Services`], and the
//! [`Ctx`] one request runs with (with its [`Caller`]: who calls, what their
//! connection may do, and the audit lines their tool calls leave). The edge
//! implements the traits with `worker::Fetch`, Workers KV and the Rate
//! Limiting binding; `fakes` (tests and the `testing` feature) implements
//! them in memory.

use crate::auth::View;
use crate::config::Config;
use crate::http::header_in;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A boxed, non-`Send` future: Workers run single-threaded and their JS-backed
/// futures are not `Send`, so the core never asks for it.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A request the core wants sent upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct OutRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// What came back from upstream. Header names are lower-case.
#[derive(Clone, Debug, Default)]
pub struct InResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl InResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// Why an upstream call produced no HTTP answer.
#[derive(Clone, Debug, PartialEq)]
pub enum SendError {
    /// The call was aborted after the given number of milliseconds.
    Timeout(u32),
    /// The connection failed or broke; the text is the platform's description.
    Network(String),
}

/// The upstream HTTP client, plus the clock the retry policy needs.
pub trait Upstream {
    /// Sends one request and aborts it after `timeout_ms`.
    fn send<'a>(
        &'a self,
        req: &'a OutRequest,
        timeout_ms: u32,
    ) -> BoxFut<'a, Result<InResponse, SendError>>;
    /// Waits, for backoff between retries.
    fn sleep(&self, ms: u32) -> BoxFut<'_, ()>;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// A key as listed by the store: its name and the metadata stored beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedKey {
    pub name: String,
    pub metadata: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    pub keys: Vec<ListedKey>,
    /// Present when more keys follow.
    pub cursor: Option<String>,
}

/// The callback log's storage (Workers KV at the edge). Errors are the
/// platform's message; the core turns them into 5xx answers.
pub trait CallbackStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, Result<(), String>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<String>, String>>;
    /// Keys with `prefix`, in lexicographic order, at most `limit`, after `cursor`.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, Result<ListPage, String>>;
}

/// The Workers Rate Limiting binding (`RATE_LIMITER`): counts calls per key
/// over the period configured with the binding and says whether one more is
/// allowed. Errors are the platform's message.
pub trait RateLimiter {
    fn allow<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<bool, String>>;
}

/// Drives several futures at once and returns their outputs in order, so
/// independent upstream calls overlap (Workers allow six open at a time and
/// queue the rest).
pub(crate) async fn join_all<'a, T>(futs: Vec<BoxFut<'a, T>>) -> Vec<T> {
    let mut slots: Vec<(Option<BoxFut<'a, T>>, Option<T>)> =
        futs.into_iter().map(|f| (Some(f), None)).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in slots.iter_mut() {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *fut = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots.into_iter().filter_map(|(_, o)| o).collect()
}

/// The platform services the edge supplies for one request. Shared (`Rc`)
/// so that work which outlives the request handler's frame, such as a
/// streamed answer, can own them.
#[derive(Clone)]
pub struct Services {
    pub upstream: Rc<dyn Upstream>,
    /// `None` when the `CALLBACKS` KV namespace is not bound.
    pub store: Option<Rc<dyn CallbackStore>>,
    /// `None` when the `RATE_LIMITER` binding is not configured.
    pub limiter: Option<Rc<dyn RateLimiter>>,
}

/// The whole time one HTTP request may spend on upstream calls, every tool
/// call of a JSON-RPC batch included: below the 60 s default timeout of the
/// MCP client libraries.
pub(crate) const REQUEST_BUDGET_MS: u64 = 50_000;

/// What one HTTP request may still spend upstream, shared by every tool call
/// it makes: a deadline, and a count of subrequests against the platform's
/// per-request limit (`SUBREQUEST_LIMIT`), so the worker stops with a clear
/// message before the platform refuses a fetch.
#[derive(Debug)]
pub(crate) struct Budget {
    deadline_ms: u64,
    limit: u32,
    used: Cell<u32>,
    /// The HTTP status of the latest answer from upstream, for audit lines.
    last_status: Cell<Option<u16>>,
}

impl Budget {
    pub(crate) fn new(now_ms: u64, total_ms: u64, subrequest_limit: u32) -> Self {
        Self {
            deadline_ms: now_ms + total_ms,
            limit: subrequest_limit,
            used: Cell::new(0),
            last_status: Cell::new(None),
        }
    }
    /// Subrequests counted so far.
    pub(crate) fn subrequests_used(&self) -> u32 {
        self.used.get()
    }
    pub(crate) fn note_status(&self, status: Option<u16>) {
        self.last_status.set(status);
    }
    pub(crate) fn last_status(&self) -> Option<u16> {
        self.last_status.get()
    }
    /// Milliseconds left before the deadline.
    pub(crate) fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms)
    }
    /// Counts one subrequest; `false` (and nothing counted) at the limit.
    pub(crate) fn take_subrequest(&self) -> bool {
        let used = self.used.get();
        if used >= self.limit {
            return false;
        }
        self.used.set(used + 1);
        true
    }
    pub(crate) fn subrequests_left(&self) -> u32 {
        self.limit - self.used.get()
    }
    pub(crate) fn subrequest_limit(&self) -> u32 {
        self.limit
    }
}

/// Who is calling on one MCP request: their connection's [`View`], what the
/// callback policy needs to know of the worker (its own origin), the id
/// audit lines carry, and the audit lines themselves, which the transport
/// hands to the edge to print one per `console.log`.
#[derive(Debug)]
pub(crate) struct Caller {
    pub view: View,
    /// `scheme://host[:port]` the request came to.
    pub self_origin: String,
    pub request_id: String,
    audit: RefCell<Vec<String>>,
    notes: RefCell<Vec<String>>,
}

impl Caller {
    pub(crate) fn new(view: View, self_origin: &str, request_id: &str) -> Self {
        Self {
            view,
            self_origin: self_origin.to_string(),
            request_id: request_id.to_string(),
            audit: RefCell::default(),
            notes: RefCell::default(),
        }
    }
    /// An audit line: printed by the edge as a line of its own.
    pub(crate) fn audit(&self, line: String) {
        self.audit.borrow_mut().push(line);
    }
    pub(crate) fn take_audit(&self) -> Vec<String> {
        self.audit.take()
    }
    /// A note for the request's own log line (never a secret).
    pub(crate) fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }
    pub(crate) fn take_notes(&self) -> Vec<String> {
        self.notes.take()
    }
}

/// What one request runs with: the configuration, the platform services,
/// the request's upstream budget and its caller.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub config: Rc<Config>,
    pub services: Services,
    pub budget: Rc<Budget>,
    pub caller: Rc<Caller>,
}

impl Ctx {
    /// A context for a caller with every scope and no narrowing, as a
    /// full-access token on `/mcp` has (for tests).
    #[cfg(test)]
    pub(crate) fn new(config: Config, services: Services) -> Self {
        let caller = Caller::new(
            View::full(crate::auth::Principal::full("test")),
            "https://worker.example",
            "test",
        );
        Self::for_caller(config, services, caller)
    }
    pub(crate) fn for_caller(config: Config, services: Services, caller: Caller) -> Self {
        let budget = Budget::new(
            services.upstream.now_ms(),
            REQUEST_BUDGET_MS,
            config.subrequest_limit,
        );
        Self {
            config: Rc::new(config),
            services,
            budget: Rc::new(budget),
            caller: Rc::new(caller),
        }
    }
    pub(crate) fn view(&self) -> &View {
        &self.caller.view
    }
    pub(crate) fn upstream(&self) -> &dyn Upstream {
        &*self.services.upstream
    }
    pub(crate) fn store(&self) -> Option<&dyn CallbackStore> {
        self.services.store.as_deref()
    }
    pub(crate) fn limiter(&self) -> Option<&dyn RateLimiter> {
        self.services.limiter.as_deref()
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod fakes;
