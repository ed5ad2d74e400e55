//! In-memory stand-ins for the I/O traits, for native tests and benchmarks
//! (compiled only for tests and with the `testing` feature): an upstream that
//! answers from a script, records what it was sent and, like the edge, hands
//! over no answer above a request's size cap; a store with a virtual clock for
//! TTLs, KV's size limits, counts of its operations and a switch that makes it
//! fail; a request body that counts whether it was read; and for the OAuth
//! server a software SHA-256/HMAC with an authenticated toy cipher (a wrong
//! key or a changed byte is refused, as with AES-GCM) and the consistent
//! store's rows in a map, on the upstream's clock. All are handles: clones
//! share one state, so a test keeps one to look at what the code under test
//! did with the other.

use super::state::{apply, Memo, Rows, StateStore};
use super::{
    BoxFut, CallbackStore, Crypto, InResponse, ListPage, ListedKey, OAuthPlatform, OutRequest,
    SendError, Services, Upstream,
};
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

/// The services of a request made from fakes (clones of the handles); the
/// OAuth store is not bound.
pub fn services(up: &FakeUpstream, store: Option<&MemoryStore>) -> Services {
    Services {
        upstream: Rc::new(up.clone()),
        store: store.map(|s| Rc::new(s.clone()) as Rc<dyn CallbackStore>),
        oauth: None,
    }
}

/// The OAuth platform made from fakes: a test keeps the handles (and one
/// memo, as an isolate does across requests).
#[derive(Clone)]
pub struct FakeOAuth {
    pub crypto: FakeCrypto,
    pub state: MemoryState,
    pub memo: Rc<Memo>,
}

impl FakeOAuth {
    /// A fresh platform whose store reads `up`'s clock.
    pub fn new(up: &FakeUpstream) -> Self {
        FakeOAuth {
            crypto: FakeCrypto::default(),
            state: MemoryState::new(up),
            memo: Rc::default(),
        }
    }
    pub fn platform(&self) -> OAuthPlatform {
        OAuthPlatform {
            crypto: Rc::new(self.crypto.clone()),
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

/// FIPS 180-4 SHA-256, for the fake crypto (the worker uses WebCrypto's).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let t1 = hh
                .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
                .wrapping_add((e & f) ^ (!e & g))
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22))
                .wrapping_add((a & b) ^ (a & c) ^ (b & c));
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// RFC 2104 HMAC with SHA-256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(data);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

/// The fake crypto: real SHA-256 and HMAC; sealing is a SHA-256 keystream
/// with an HMAC tag over nonce and ciphertext (authenticated, not AES-GCM).
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
    fn digest<'a>(
        &'a self,
        key: Option<&'a [u8]>,
        data: &'a [u8],
    ) -> BoxFut<'a, Result<[u8; 32], String>> {
        let d = match key {
            Some(k) => hmac_sha256(k, data),
            None => sha256(data),
        };
        Box::pin(async move { Ok(d) })
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
