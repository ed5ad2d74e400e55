//! In-memory stand-ins for the I/O traits, for native tests and benchmarks
//! (compiled only for tests and with the `testing` feature): an upstream that
//! answers from a script, records what it was sent and, like the edge, hands
//! over no answer above a request's size cap; a store with a virtual clock for
//! TTLs, KV's size limits, counts of its operations and a switch that makes it
//! fail; a request body that counts whether it was read; and for the OAuth
//! server an authenticated toy cipher (a wrong
//! key or a changed byte is refused, as with AES-GCM) and the consistent
//! store's rows in a map, on the upstream's clock. All are handles: clones
//! share one state, so a test keeps one to look at what the code under test
//! did with the other.

use super::state::{apply, Memo, Rows, StateStore};
use super::{
    BoxFut, CallbackStore, Crypto, InResponse, ListPage, ListedKey, OAuthPlatform, OutRequest,
    RateLimiter, SendError, Services, Upstream,
};
use crate::codec::{hmac_sha256, sha256};
use crate::http::{Body, BodyError, BodySource, LocalFut};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::Deref;
use std::rc::Rc;
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
#[derive(Clone, Default)]
pub struct FakeUpstream(Rc<UpstreamState>);

impl Deref for FakeUpstream {
    type Target = UpstreamState;
    fn deref(&self) -> &UpstreamState {
        &self.0
    }
}

/// What a [`FakeUpstream`] holds.
#[derive(Default)]
pub struct UpstreamState {
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
}

impl UpstreamState {
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
        // As the edge does: an answer above the cap is not handed over.
        let reply = match reply {
            Ok(r) if r.body.len() > req.max_response_bytes => Err(SendError::TooLarge(r.status)),
            other => other,
        };
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
#[derive(Clone, Default)]
pub struct MemoryStore(Rc<StoreState>);

impl Deref for MemoryStore {
    type Target = StoreState;
    fn deref(&self) -> &StoreState {
        &self.0
    }
}

/// What a [`MemoryStore`] holds.
pub struct StoreState {
    pub entries: RefCell<BTreeMap<String, StoredEntry>>,
    /// When set, every put fails (KV outage).
    pub fail_puts: Cell<bool>,
    pub fail_reads: Cell<bool>,
    /// KV operations made, by kind (what a Workers plan counts and caps).
    pub puts: Cell<u32>,
    pub gets: Cell<u32>,
    pub lists: Cell<u32>,
    clock: Cell<u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Default for StoreState {
    fn default() -> Self {
        Self {
            entries: RefCell::default(),
            fail_puts: Cell::new(false),
            fail_reads: Cell::new(false),
            puts: Cell::new(0),
            gets: Cell::new(0),
            lists: Cell::new(0),
            clock: Cell::new(1_767_225_600_000),
        }
    }
}

impl StoreState {
    pub fn set_now(&self, ms: u64) {
        self.clock.set(ms);
    }
    fn live(&self, e: &StoredEntry) -> bool {
        e.expires_at_ms > self.clock.get()
    }
    /// Writes made so far (what the KV write quota counts).
    pub fn writes(&self) -> u32 {
        self.puts.get()
    }
}

/// Workers KV's limits, which a put over them fails with, as KV would.
pub const KV_MAX_KEY_BYTES: usize = 512;
pub const KV_MAX_METADATA_BYTES: usize = 1024;
pub const KV_MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;

impl CallbackStore for MemoryStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, Result<(), String>> {
        let meta_len = serde_json::to_string(metadata).map_or(usize::MAX, |m| m.len());
        let r = if self.fail_puts.get() {
            Err("KV put failed (simulated outage)".to_string())
        } else if key.len() > KV_MAX_KEY_BYTES {
            Err(format!("KV put failed: key of {} bytes", key.len()))
        } else if meta_len > KV_MAX_METADATA_BYTES {
            Err(format!("KV put failed: metadata of {meta_len} bytes"))
        } else if value.len() > KV_MAX_VALUE_BYTES {
            Err(format!("KV put failed: value of {} bytes", value.len()))
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
        self.gets.set(self.gets.get() + 1);
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
        self.lists.set(self.lists.get() + 1);
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

/// A request body held in memory that records whether the core read it.
#[derive(Clone, Default)]
pub struct FakeBody(Rc<(Vec<u8>, Cell<u32>)>);

impl FakeBody {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        FakeBody(Rc::new((bytes.into(), Cell::new(0))))
    }
    /// How many times the core asked for the body.
    pub fn reads(&self) -> u32 {
        self.0 .1.get()
    }
    /// The body to put in a request (this handle keeps the count).
    pub fn body(&self) -> Body {
        Body::new(self.clone())
    }
}

impl BodySource for FakeBody {
    fn read(&self, cap: usize) -> LocalFut<'_, Result<Vec<u8>, BodyError>> {
        self.0 .1.set(self.0 .1.get() + 1);
        let b = &self.0 .0;
        let r = if b.len() > cap {
            Err(BodyError::TooLarge)
        } else {
            Ok(b.clone())
        };
        Box::pin(std::future::ready(r))
    }
}

/// A rate limiter that allows `limit` calls per key, like the binding within
/// one period, and records every key it was asked about. A handle, like the
/// other fakes.
#[derive(Clone, Default)]
pub struct FakeLimiter(Rc<LimiterState>);

impl Deref for FakeLimiter {
    type Target = LimiterState;
    fn deref(&self) -> &LimiterState {
        &self.0
    }
}

#[derive(Default)]
pub struct LimiterState {
    pub limit: Cell<u32>,
    /// When set, every call fails (the binding threw).
    pub fail: Cell<bool>,
    pub calls: RefCell<Vec<String>>,
}

impl FakeLimiter {
    pub fn new(limit: u32) -> Self {
        let f = Self::default();
        f.limit.set(limit);
        f
    }
}

impl RateLimiter for FakeLimiter {
    fn allow<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<bool, String>> {
        let r = if self.fail.get() {
            Err("rate limiter failed (simulated)".to_string())
        } else {
            self.calls.borrow_mut().push(key.to_string());
            let n = self.calls.borrow().iter().filter(|k| *k == key).count();
            Ok(n as u32 <= self.limit.get())
        };
        Box::pin(async move { r })
    }
}

/// The services of a request made from fakes (clones of the handles); the
/// OAuth store is not bound.
pub fn services(up: &FakeUpstream, store: Option<&MemoryStore>) -> Services {
    Services {
        upstream: Rc::new(up.clone()),
        store: store.map(|s| Rc::new(s.clone()) as Rc<dyn CallbackStore>),
        limiter: None,
        auth_limiter: None,
        oauth: None,
        crypto: Rc::new(FakeCrypto::default()),
        jobs: None,
    }
}

/// The OAuth platform made from fakes: a test keeps the handles (and one
/// memo, as an isolate does across requests).
#[derive(Clone)]
pub struct FakeOAuth {
    pub crypto: FakeCrypto,
    pub failed_docs: Rc<Memo>,
    pub state: MemoryState,
    pub memo: Rc<Memo>,
}

impl FakeOAuth {
    /// A fresh platform whose store reads `up`'s clock.
    pub fn new(up: &FakeUpstream) -> Self {
        FakeOAuth {
            crypto: FakeCrypto::default(),
            failed_docs: Rc::default(),
            state: MemoryState::new(up),
            memo: Rc::default(),
        }
    }
    pub fn platform(&self) -> OAuthPlatform {
        OAuthPlatform {
            failed_docs: self.failed_docs.clone(),
            state: Rc::new(self.state.clone()),
            memo: self.memo.clone(),
        }
    }
}

/// The services of a request with the OAuth store bound.
pub fn services_with_oauth(
    up: &FakeUpstream,
    store: Option<&MemoryStore>,
    oauth: &FakeOAuth,
) -> Services {
    Services {
        oauth: Some(oauth.platform()),
        crypto: Rc::new(oauth.crypto.clone()),
        jobs: None,
        ..services(up, store)
    }
}

/// The consistent store's table: key → (group, body, expires).
#[derive(Default)]
pub struct MemoryRows(pub BTreeMap<String, (String, String, u64)>);

fn live(expires: u64, now: u64) -> bool {
    expires == 0 || expires > now
}

impl Rows for MemoryRows {
    fn get(&mut self, key: &str, now: u64) -> Result<Option<String>, String> {
        Ok(self
            .0
            .get(key)
            .filter(|r| live(r.2, now))
            .map(|r| r.1.clone()))
    }
    fn put(&mut self, key: &str, group: &str, body: &str, expires: u64) -> Result<(), String> {
        self.0
            .insert(key.into(), (group.into(), body.into(), expires));
        Ok(())
    }
    fn delete(&mut self, key: &str, group: &str) -> Result<(), String> {
        self.0
            .retain(|k, r| k != key && (group.is_empty() || r.0 != group));
        Ok(())
    }
    fn list(&mut self, group: &str, now: u64) -> Result<Vec<(String, String)>, String> {
        Ok(self
            .0
            .iter()
            .filter(|(_, r)| r.0 == group && live(r.2, now))
            .take(500)
            .map(|(k, r)| (k.clone(), r.1.clone()))
            .collect())
    }
}

/// The Durable Object in memory: [`apply`] over [`MemoryRows`], on the
/// clock of the upstream it was made with; it can be made to fail, and it
/// counts calls (each is one round trip to the object at the edge).
#[derive(Clone)]
pub struct MemoryState(Rc<MemoryStateInner>);

pub struct MemoryStateInner {
    pub rows: RefCell<MemoryRows>,
    pub fail: Cell<bool>,
    pub calls: Cell<u32>,
    clock: FakeUpstream,
}

impl Deref for MemoryState {
    type Target = MemoryStateInner;
    fn deref(&self) -> &MemoryStateInner {
        &self.0
    }
}

impl MemoryState {
    pub fn new(up: &FakeUpstream) -> Self {
        MemoryState(Rc::new(MemoryStateInner {
            rows: RefCell::default(),
            fail: Cell::new(false),
            calls: Cell::new(0),
            clock: up.clone(),
        }))
    }
    /// The body of a live row, looked at directly.
    pub fn body(&self, key: &str) -> Option<String> {
        let now = self.clock.now_ms() / 1000;
        self.rows.borrow_mut().get(key, now).unwrap()
    }
    /// Every stored row's text (to check that no secret is kept).
    pub fn dump(&self) -> String {
        format!("{:?}", self.rows.borrow().0)
    }
}

impl StateStore for MemoryState {
    fn run<'a>(&'a self, ops: &'a Value) -> BoxFut<'a, Result<Value, String>> {
        self.calls.set(self.calls.get() + 1);
        let r = if self.fail.get() {
            Err("the store is down (simulated)".to_string())
        } else {
            // Through text, as at the edge.
            let ops: Value = serde_json::from_str(&ops.to_string()).unwrap();
            apply(
                &mut *self.rows.borrow_mut(),
                &ops,
                self.clock.now_ms() / 1000,
            )
        };
        Box::pin(async move { r })
    }
}

/// The fake crypto: sealing is a SHA-256 keystream with an HMAC tag over
/// nonce and ciphertext (authenticated like AES-GCM, though not AES-GCM).
/// Randomness is a counter run through SHA-256: distinct, repeatable values.
#[derive(Clone, Default)]
pub struct FakeCrypto(Rc<Cell<u64>>);

fn keystream(key: &[u8; 32], nonce: &[u8], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let block = sha256(&[&key[..], nonce, &(i as u32).to_be_bytes()].concat());
        for (d, k) in chunk.iter_mut().zip(block) {
            *d ^= k;
        }
    }
}

impl Crypto for FakeCrypto {
    fn random(&self, buf: &mut [u8]) -> Result<(), String> {
        for chunk in buf.chunks_mut(32) {
            self.0.set(self.0.get() + 1);
            let block = sha256(&self.0.get().to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
    fn seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        plain: &'a [u8],
    ) -> BoxFut<'a, Result<Vec<u8>, String>> {
        let mut nonce = [0u8; 12];
        let r = self.random(&mut nonce).map(|_| {
            let mut ct = plain.to_vec();
            keystream(key, &nonce, &mut ct);
            let mut out = nonce.to_vec();
            out.extend_from_slice(&ct);
            let tag = hmac_sha256(key, &out);
            out.extend_from_slice(&tag[..16]);
            out
        });
        Box::pin(async move { r })
    }
    fn open<'a>(
        &'a self,
        key: &'a [u8; 32],
        sealed: &'a [u8],
    ) -> BoxFut<'a, Result<Option<Vec<u8>>, String>> {
        let r = (sealed.len() >= 28)
            .then(|| sealed.split_at(sealed.len() - 16))
            .filter(|(body, tag)| hmac_sha256(key, body)[..16] == **tag)
            .map(|(body, _)| {
                let mut plain = body[12..].to_vec();
                keystream(key, &body[..12], &mut plain);
                plain
            });
        Box::pin(async move { Ok(r) })
    }
}
