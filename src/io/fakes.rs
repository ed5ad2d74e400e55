//! In-memory stand-ins for the two I/O traits, for native tests and benchmarks:
//! an upstream that answers from a script and records what it was sent, and a
//! store with a virtual clock for TTLs and a switch that makes it fail.

use super::{
    BoxFut, CallbackStore, InResponse, ListPage, ListedKey, OutRequest, SendError, Upstream,
};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Runs a future whose I/O is all in memory. The fakes never return
/// `Pending`, so a single poll loop without a reactor is enough.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

pub type Reply = Result<InResponse, SendError>;
type Responder = Box<dyn FnMut(&OutRequest) -> Reply>;

/// A scripted upstream: queued replies first, then the responder, else 404.
#[derive(Default)]
pub struct FakeUpstream {
    queue: RefCell<VecDeque<Reply>>,
    responder: RefCell<Option<Responder>>,
    /// Every request sent, in order.
    pub requests: RefCell<Vec<OutRequest>>,
    /// The timeout each request was sent with.
    pub timeouts: RefCell<Vec<u32>>,
    /// Every backoff wait asked for.
    pub sleeps: RefCell<Vec<u32>>,
    now: Cell<u64>,
}

impl FakeUpstream {
    pub fn new() -> Self {
        let f = Self::default();
        f.now.set(1_767_225_600_000); // 2026-01-01T00:00:00Z
        f
    }
    pub fn push(&self, reply: Reply) -> &Self {
        self.queue.borrow_mut().push_back(reply);
        self
    }
    pub fn push_json(&self, status: u16, body: Value) -> &Self {
        self.push(Ok(json_response(status, &body)))
    }
    pub fn respond_with(&self, f: impl FnMut(&OutRequest) -> Reply + 'static) {
        *self.responder.borrow_mut() = Some(Box::new(f));
    }
    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }
    pub fn sent(&self) -> Vec<OutRequest> {
        self.requests.borrow().clone()
    }
}

pub fn json_response(status: u16, body: &Value) -> InResponse {
    InResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

pub fn text_response(status: u16, content_type: &str, body: &str) -> InResponse {
    InResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

impl Upstream for FakeUpstream {
    fn send<'a>(&'a self, req: &'a OutRequest, timeout_ms: u32) -> BoxFut<'a, Reply> {
        self.requests.borrow_mut().push(req.clone());
        self.timeouts.borrow_mut().push(timeout_ms);
        let queued = self.queue.borrow_mut().pop_front();
        let reply = match queued {
            Some(r) => r,
            None => match self.responder.borrow_mut().as_mut() {
                Some(f) => f(req),
                None => Ok(json_response(
                    404,
                    &serde_json::json!({"status_code": 404, "error": "no scripted reply"}),
                )),
            },
        };
        if let Err(SendError::Timeout(_)) = reply {
            self.advance(timeout_ms as u64);
            return Box::pin(async move { Err(SendError::Timeout(timeout_ms)) });
        }
        Box::pin(async move { reply })
    }
    fn sleep(&self, ms: u32) -> BoxFut<'_, ()> {
        self.sleeps.borrow_mut().push(ms);
        self.advance(ms as u64);
        Box::pin(async {})
    }
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
}

#[derive(Clone, Debug)]
pub struct StoredEntry {
    pub value: String,
    pub metadata: Value,
    pub expires_at_ms: u64,
}

/// A KV-like store with its own settable clock, so TTLs can be tested.
pub struct MemoryStore {
    pub entries: RefCell<BTreeMap<String, StoredEntry>>,
    /// When set, every put fails (KV outage).
    pub fail_puts: Cell<bool>,
    pub fail_reads: Cell<bool>,
    pub puts: Cell<u32>,
    clock: Cell<u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self {
            entries: RefCell::default(),
            fail_puts: Cell::new(false),
            fail_reads: Cell::new(false),
            puts: Cell::new(0),
            clock: Cell::new(1_767_225_600_000),
        }
    }
    pub fn set_now(&self, ms: u64) {
        self.clock.set(ms);
    }
    fn live(&self, e: &StoredEntry) -> bool {
        e.expires_at_ms > self.clock.get()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl CallbackStore for MemoryStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, Result<(), String>> {
        let r = if self.fail_puts.get() {
            Err("KV put failed (simulated outage)".to_string())
        } else {
            self.puts.set(self.puts.get() + 1);
            self.entries.borrow_mut().insert(
                key.to_string(),
                StoredEntry {
                    value: value.to_string(),
                    metadata: metadata.clone(),
                    expires_at_ms: self.clock.get() + ttl_secs * 1000,
                },
            );
            Ok(())
        };
        Box::pin(async move { r })
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<String>, String>> {
        let r = if self.fail_reads.get() {
            Err("KV get failed (simulated outage)".to_string())
        } else {
            Ok(self
                .entries
                .borrow()
                .get(key)
                .filter(|e| self.live(e))
                .map(|e| e.value.clone()))
        };
        Box::pin(async move { r })
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, Result<ListPage, String>> {
        let r = if self.fail_reads.get() {
            Err("KV list failed (simulated outage)".to_string())
        } else {
            // The cursor is the last key returned; KV's is opaque, which callers must not rely on.
            let entries = self.entries.borrow();
            let mut keys = Vec::new();
            let mut more = false;
            for (k, e) in entries.iter() {
                if !k.starts_with(prefix)
                    || !self.live(e)
                    || cursor.is_some_and(|c| k.as_str() <= c)
                {
                    continue;
                }
                if keys.len() == limit as usize {
                    more = true;
                    break;
                }
                keys.push(ListedKey {
                    name: k.clone(),
                    metadata: Some(e.metadata.clone()),
                });
            }
            let cursor = if more {
                keys.last().map(|k| k.name.clone())
            } else {
                None
            };
            Ok(ListPage { keys, cursor })
        };
        Box::pin(async move { r })
    }
}
