//! The seams between the pure core and the platform: an upstream HTTP client,
//! the callback store, the rate limiter and, for the OAuth server, encryption
//! and the consistent store ([`state`]), bundled as [`Services`], and the
//! [`Ctx`] one request runs with (with its [`Caller`]: who calls, what their
//! connection may do, and the audit lines their tool calls leave). The edge
//! implements the traits with `worker::Fetch`, Workers KV, the Rate Limiting
//! binding, WebCrypto and a Durable Object; `fakes` (tests and the `testing`
//! feature) implements them in memory.

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
    /// An answer body larger than this is not read: a declared Content-Length
    /// above it is refused before reading, and a streamed body is cut off.
    pub max_response_bytes: usize,
    /// A 3xx comes back as it is instead of being followed (fetches of URLs
    /// a caller chose, such as OAuth client metadata documents).
    pub no_redirects: bool,
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
    /// The answer (this status) was larger than `max_response_bytes` and was not read.
    TooLarge(u16),
    /// The platform refused the fetch: the request has used its subrequests.
    SubrequestLimit,
}

impl SendError {
    /// Classifies the message of a fetch the platform failed: its subrequest
    /// limit is not a network failure and must not be retried as one.
    pub fn from_platform(message: String) -> Self {
        if message
            .to_ascii_lowercase()
            .contains("too many subrequests")
        {
            SendError::SubrequestLimit
        } else {
            SendError::Network(message)
        }
    }
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

/// The encryption the OAuth server needs, from the platform: AES-256-GCM
/// from WebCrypto at the edge (no Rust cipher in the upload; hashes and MACs
/// are `codec`'s) and its CSPRNG. Errors are the platform's message.
pub trait Crypto {
    /// Fills `buf` from the platform's CSPRNG.
    fn random(&self, buf: &mut [u8]) -> Result<(), String>;
    /// `plain` sealed under `key`, its random nonce in front.
    fn seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        plain: &'a [u8],
    ) -> BoxFut<'a, Result<Vec<u8>, String>>;
    /// What [`Crypto::seal`] sealed, or `None` when `sealed` was made with
    /// another key or was changed.
    fn open<'a>(
        &'a self,
        key: &'a [u8; 32],
        sealed: &'a [u8],
    ) -> BoxFut<'a, Result<Option<Vec<u8>>, String>>;
}

/// What the OAuth server runs on: crypto, the consistent store and the
/// isolate's memo (shared by every request the isolate serves).
#[derive(Clone)]
pub struct OAuthPlatform {
    pub crypto: Rc<dyn Crypto>,
    /// Client metadata documents that could not be fetched, kept apart from
    /// `memo` so that a flood of them never pushes out what `memo` holds.
    pub failed_docs: Rc<state::Memo>,
    pub state: Rc<dyn state::StateStore>,
    pub memo: Rc<state::Memo>,
}

/// Drives several futures at once and returns their outputs in order, so
/// independent upstream calls overlap (Workers allow six open at a time and
/// queue the rest).
pub(crate) async fn join_all<'a, T>(futs: Vec<BoxFut<'a, T>>) -> Vec<T> {
    join_bounded(futs, usize::MAX).await
}

/// The most upstream connections one Workers request may have open at once;
/// work that must never queue behind the platform runs at most this many.
pub(crate) const MAX_OPEN_CONNECTIONS: usize = 6;

/// Like [`join_all`], but at most `limit` futures run at a time; the others
/// start in order as running ones finish. A future does nothing until it is
/// first polled, so the ones waiting their turn have sent nothing yet.
pub(crate) async fn join_bounded<'a, T>(futs: Vec<BoxFut<'a, T>>, limit: usize) -> Vec<T> {
    let n = futs.len();
    let mut slots: Vec<(Option<BoxFut<'a, T>>, Option<T>)> =
        futs.into_iter().map(|f| (Some(f), None)).collect();
    let (mut started, mut running) = (0, 0);
    std::future::poll_fn(|cx| loop {
        while running < limit.max(1) && started < n {
            started += 1;
            running += 1;
        }
        let mut finished = false;
        for (fut, out) in slots[..started].iter_mut() {
            if let Some(f) = fut {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *out = Some(v);
                    *fut = None;
                    running -= 1;
                    finished = true;
                }
            }
        }
        if running == 0 && started == n {
            return std::task::Poll::Ready(());
        }
        // A finished future frees a place: start the next ones in this same poll.
        if !finished || started == n {
            return std::task::Poll::Pending;
        }
    })
    .await;
    slots.into_iter().filter_map(|(_, o)| o).collect()
}

/// One progress report of a long tool call: how far it got, out of how
/// much when that is known, and what is happening, for the person watching.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Report {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: String,
}

/// Where a long tool call puts its progress reports while it runs; the
/// transport takes them out and sends them as notifications.
#[derive(Debug, Default)]
pub(crate) struct Progress(RefCell<Vec<Report>>);

impl Progress {
    pub(crate) fn take(&self) -> Vec<Report> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
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
    /// `/mcp`'s failed bearer attempts per address; `None` when the
    /// `AUTH_LIMITER` binding is not configured.
    pub auth_limiter: Option<Rc<dyn RateLimiter>>,
    /// `None` when the `OAUTH` Durable Object is not bound (OAuth is off).
    pub oauth: Option<OAuthPlatform>,
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
    /// Marks every subrequest used: the platform refused one, so the rest of
    /// the request sends nothing more.
    pub(crate) fn exhaust(&self) {
        self.used.set(self.limit);
    }
    pub(crate) fn subrequest_limit(&self) -> u32 {
        self.limit
    }
}

/// Who is calling on one MCP request: their connection's [`View`], what the
/// callback policy needs to know of the worker (its own origin) and the id
/// audit lines carry.
#[derive(Debug)]
pub(crate) struct Caller {
    pub view: View,
    /// `scheme://host[:port]` the request came to.
    pub self_origin: String,
    pub request_id: String,
    /// For a user signed in with their own Scale key: their tenant's
    /// webhook URL (`…/webhooks/scale/{tenant}`). `None` for the operator's
    /// account, whose callbacks come to `/webhooks/scale`.
    pub tenant_webhook: Option<String>,
}

impl Caller {
    pub(crate) fn new(view: View, self_origin: &str, request_id: &str) -> Self {
        Self {
            view,
            self_origin: self_origin.to_string(),
            request_id: request_id.to_string(),
            tenant_webhook: None,
        }
    }
    /// Where Scale delivers this caller's callbacks into the log they read.
    pub(crate) fn webhook_url(&self) -> String {
        match &self.tenant_webhook {
            Some(u) => u.clone(),
            None => format!("{}/webhooks/scale", self.self_origin),
        }
    }
}

/// What one request runs with: the configuration, the platform services,
/// the request's upstream budget, its caller, where progress goes (when the
/// client asked for it) and the lines the request adds to the worker log.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub config: Rc<Config>,
    pub services: Services,
    pub budget: Rc<Budget>,
    pub caller: Rc<Caller>,
    /// Set by the transport when the answer streams progress to the client.
    pub progress: Option<Rc<Progress>>,
    /// Whether the request is one message answered with its own HTTP status:
    /// only then may a signed-in user's missing scope get the 403 step-up
    /// answer of docs/permissions.md §2. The transport clears it in a batch and
    /// a stream.
    pub single: bool,
    /// Lines for the worker log (never argument values or secrets): notes
    /// for the request's own line and audit lines (JSON, see
    /// [`crate::http::is_audit_line`]), which the edge prints one each.
    pub notes: Rc<RefCell<Vec<String>>>,
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
            progress: None,
            single: true,
            notes: Rc::default(),
        }
    }
    pub(crate) fn view(&self) -> &View {
        &self.caller.view
    }
    /// Reports progress; kept only when the client asked for it.
    pub(crate) fn report(&self, progress: f64, total: Option<f64>, message: String) {
        if let Some(p) = &self.progress {
            p.0.borrow_mut().push(Report {
                progress,
                total,
                message,
            });
        }
    }
    /// Adds a line to the worker log of this request: a note, or an audit
    /// line when it is a JSON object.
    pub(crate) fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
    /// The audit lines written so far, taken out of the log (for tests).
    #[cfg(test)]
    pub(crate) fn take_audit(&self) -> Vec<String> {
        let (audit, notes) = self
            .take_notes()
            .into_iter()
            .partition(|l| crate::http::is_audit_line(l));
        *self.notes.borrow_mut() = notes;
        audit
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

pub mod state;

#[cfg(any(test, feature = "testing"))]
pub mod fakes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_subrequest_limit_is_not_a_network_error() {
        assert_eq!(
            SendError::from_platform("Too many subrequests by single Worker invocation.".into()),
            SendError::SubrequestLimit
        );
        assert_eq!(
            SendError::from_platform("Network connection lost.".into()),
            SendError::Network("Network connection lost.".into())
        );
    }
}
