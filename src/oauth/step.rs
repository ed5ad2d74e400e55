//! How the OAuth endpoints reach the platform without being async.
//!
//! Each endpoint is a plain function of the request and of what it has
//! read so far ([`Io`]). When it needs something from the platform — the
//! request body, a store call, AES-GCM, a client metadata document, a Scale
//! call — it names it ([`Need`]) and stops with [`Stop::Wait`]; [`drive`]
//! gets the answer and runs the function again from the start, now with the
//! answer at that step. Given the same answers an endpoint makes the same
//! requests in the same order (its randomness is drawn once per request, its
//! clock is fixed), so every earlier answer is found where it was asked for.
//!
//! Why: written as `async fn`s, the endpoints compiled to state machines
//! that copy every live value in and out of the future at each await, about
//! 80 KB of the wasm; as plain functions with one small async driver they
//! are a fraction of that (issue 14 caps the upload). Running an endpoint
//! again costs microseconds (parsing a small form, a few hashes) against
//! milliseconds for each store call.

use super::fetch;
use super::issued::{MEMO_MS, MISS_MS};
use super::record;
use super::server::OAuth;
use crate::codec::base64url;
use crate::http::Request;
use crate::io::state::op;
use crate::scale::{Call, Retry, Scale, ScaleError};
use serde_json::Value;
use std::cell::{Cell, RefCell};

/// The largest body an OAuth endpoint reads (forms and registrations are small).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long a client metadata document fetched is remembered.
const DOCUMENT_MEMO_MS: u64 = 5 * 60 * 1000;
/// A document that could not be fetched is not asked for again for this long.
const DOCUMENT_FAILED_MS: u64 = 60 * 1000;

/// What an endpoint needs before it can go on.
pub(super) enum Need {
    /// The request body (at most [`MAX_BODY`]).
    Body,
    /// Store operations (`io::state`).
    Store(Value),
    /// An access token's record, through the isolate's memo ([`MEMO_MS`])
    /// and, for one found absent, its negative cache ([`MISS_MS`]).
    Access(String),
    /// AES-256-GCM: `plain` sealed under the key.
    Seal([u8; 32], Vec<u8>),
    /// AES-256-GCM: what was sealed under the key, if it opens.
    Open([u8; 32], Vec<u8>),
    /// A client metadata document (its URL checked by `fetch::public_host`)
    /// as remembered: its body from the memo (5 min), or why it failed
    /// (1 min); when neither is there, fetched or not as [`Absent`] says.
    Document(String, Absent),
    /// One Scale call with this key, to see that it works.
    Scale(String),
}

/// What to do about a document that is not remembered.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Absent {
    /// Fetch it (the caller has counted the fetch against its limit).
    Fetch,
    /// Answer that it is not there.
    Leave,
}

/// What came back.
pub(super) enum Got {
    Body(Option<Vec<u8>>),
    /// Store replies; `None` when a `cas` failed. An access record is one row.
    Rows(Option<Vec<Value>>),
    Bytes(Option<Vec<u8>>),
    /// A metadata document's body, or why it could not be had.
    Document(Option<Result<Vec<u8>, String>>),
    Scale(Result<(), ScaleError>),
}

/// Why an endpoint stopped before answering.
pub(super) enum Stop {
    /// It needs what it named in [`Io`].
    Wait,
    /// The platform failed (logged; the answer is a 503).
    Down(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Down(e)
    }
}

/// One run of an endpoint: the answers so far, and what it asks next.
pub(super) struct Io<'a> {
    got: &'a [Got],
    at: Cell<usize>,
    need: RefCell<Option<Need>>,
    /// This request's random bytes, drawn once so every run sees the same.
    seed: &'a [u8],
    seed_at: Cell<usize>,
}

/// How many random bytes a request may use: a grant id, a code, a grant key
/// and a cookie nonce, or two tokens for each of a refresh's three tries.
const SEED: usize = 192;

impl<'a> Io<'a> {
    fn ask(&self, need: Need) -> Result<&'a Got, Stop> {
        let i = self.at.get();
        self.at.set(i + 1);
        match self.got.get(i) {
            Some(g) => Ok(g),
            None => {
                *self.need.borrow_mut() = Some(need);
                Err(Stop::Wait)
            }
        }
    }

    /// The request body, or `None` when it is too large or unreadable.
    pub(super) fn body(&self) -> Result<Option<&'a [u8]>, Stop> {
        match self.ask(Need::Body)? {
            Got::Body(b) => Ok(b.as_deref()),
            _ => Err(out_of_step()),
        }
    }

    /// Runs store operations; `None` when a `cas` failed.
    pub(super) fn store(&self, ops: Vec<Value>) -> Result<Option<&'a [Value]>, Stop> {
        match self.ask(Need::Store(Value::Array(ops)))? {
            Got::Rows(r) => Ok(r.as_deref()),
            _ => Err(out_of_step()),
        }
    }

    /// One stored record, parsed (`Null` when absent).
    pub(super) fn get(&self, key: &str) -> Result<Value, Stop> {
        let rows = self
            .store(vec![op("get", key, "", "", 0)])?
            .unwrap_or_default();
        Ok(rows
            .first()
            .and_then(Value::as_str)
            .map(record::parse)
            .unwrap_or_default())
    }

    /// The record of the access token stored under `key` (`Null` when absent).
    pub(super) fn access(&self, key: String) -> Result<&'a Value, Stop> {
        match self.ask(Need::Access(key))? {
            Got::Rows(Some(r)) if r.len() == 1 => Ok(&r[0]),
            _ => Err(out_of_step()),
        }
    }

    pub(super) fn seal(&self, key: [u8; 32], plain: Vec<u8>) -> Result<String, Stop> {
        match self.ask(Need::Seal(key, plain))? {
            Got::Bytes(Some(b)) => Ok(base64url(b)),
            _ => Err(out_of_step()),
        }
    }

    /// What `sealed` (URL-safe base64) holds under `key`, if it opens.
    pub(super) fn open(&self, key: [u8; 32], sealed: &str) -> Result<Option<&'a [u8]>, Stop> {
        let Some(bytes) = crate::codec::base64_decode(sealed) else {
            return Ok(None);
        };
        match self.ask(Need::Open(key, bytes))? {
            Got::Bytes(b) => Ok(b.as_deref()),
            _ => Err(out_of_step()),
        }
    }

    /// The client metadata document at `url` as remembered: its body, or
    /// why it could not be had; `None` when it is not remembered.
    pub(super) fn remembered_document(
        &self,
        url: &str,
    ) -> Result<Option<&'a Result<Vec<u8>, String>>, Stop> {
        self.document(url, Absent::Leave)
    }

    /// The client metadata document at `url` as remembered, or else fetched.
    pub(super) fn fetched_document(&self, url: &str) -> Result<&'a Result<Vec<u8>, String>, Stop> {
        self.document(url, Absent::Fetch)?.ok_or_else(out_of_step)
    }

    fn document(
        &self,
        url: &str,
        absent: Absent,
    ) -> Result<Option<&'a Result<Vec<u8>, String>>, Stop> {
        match self.ask(Need::Document(url.to_string(), absent))? {
            Got::Document(d) => Ok(d.as_ref()),
            _ => Err(out_of_step()),
        }
    }

    pub(super) fn scale(&self, key: &str) -> Result<&'a Result<(), ScaleError>, Stop> {
        match self.ask(Need::Scale(key.to_string()))? {
            Got::Scale(r) => Ok(r),
            _ => Err(out_of_step()),
        }
    }

    /// `n` random bytes, the same in every run of this request.
    pub(super) fn random_bytes(&self, n: usize) -> Result<&'a [u8], Stop> {
        let i = self.seed_at.get();
        self.seed_at.set(i + n);
        self.seed
            .get(i..i + n)
            .ok_or_else(|| Stop::Down("out of random bytes".into()))
    }

    /// `n` random bytes in URL-safe base64.
    pub(super) fn random(&self, n: usize) -> Result<String, Stop> {
        Ok(base64url(self.random_bytes(n)?))
    }
}

#[inline(never)]
pub(super) fn out_of_step() -> Stop {
    Stop::Down("an OAuth step got an answer of the wrong kind".into())
}

/// Whether an endpoint draws random bytes ([`Io::random`]). They are drawn
/// from the platform before its first run; `/mcp`'s token check, the hot
/// path, needs none and skips that call.
pub(super) enum Randomness {
    Drawn,
    Unused,
}

/// Runs `endpoint` until it answers, getting what it needs between runs;
/// `Err` is a platform failure.
pub(super) async fn drive<T>(
    o: &OAuth<'_>,
    req: &Request,
    randomness: Randomness,
    endpoint: &dyn Fn(&Io) -> Result<T, Stop>,
) -> Result<T, String> {
    let mut seed = [0u8; SEED];
    let seed = match randomness {
        Randomness::Drawn => {
            o.crypto.random(&mut seed)?;
            &seed[..]
        }
        Randomness::Unused => &[],
    };
    let mut got = Vec::new();
    // Each run asks for one more thing; no endpoint needs anywhere near this many.
    while got.len() < 24 {
        let io = Io {
            got: &got,
            at: Cell::new(0),
            need: RefCell::new(None),
            seed,
            seed_at: Cell::new(0),
        };
        match endpoint(&io) {
            Ok(v) => return Ok(v),
            Err(Stop::Down(e)) => return Err(e),
            Err(Stop::Wait) => {}
        }
        let need = io.need.take();
        got.push(
            perform(
                o,
                req,
                need.ok_or("an OAuth step stopped without saying why")?,
            )
            .await?,
        );
    }
    Err("an OAuth step asked for too much".into())
}

/// Gets one thing an endpoint needs.
async fn perform(o: &OAuth<'_>, req: &Request, need: Need) -> Result<Got, String> {
    Ok(match need {
        Need::Body => Got::Body(req.read_body(MAX_BODY).await.ok()),
        Need::Store(ops) => Got::Rows(o.run(&ops).await?),
        Need::Access(key) => {
            let memo = &o.p.memo;
            let v = match memo.get(&key, o.now_ms) {
                Some(v) => v,
                None if memo.missed(&key, o.now_ms) => Value::Null,
                None => {
                    let rows = o
                        .run(&Value::Array(vec![op("get", &key, "", "", 0)]))
                        .await?
                        .unwrap_or_default();
                    let v = rows
                        .first()
                        .and_then(Value::as_str)
                        .map(record::parse)
                        .unwrap_or_default();
                    // A token's record is written before the token is handed
                    // out, so one found absent stays absent: remembered
                    // apart, where misses cannot evict the records found.
                    if v.is_null() {
                        memo.miss(key, o.now_ms + MISS_MS);
                    } else {
                        memo.put(key, v.clone(), o.now_ms + MEMO_MS);
                    }
                    v
                }
            };
            Got::Rows(Some(vec![v]))
        }
        Need::Seal(k, plain) => Got::Bytes(Some(o.crypto.seal(&k, &plain).await?)),
        Need::Open(k, sealed) => Got::Bytes(o.crypto.open(&k, &sealed).await?),
        Need::Document(url, absent) => {
            let key = format!("doc:{url}");
            if let Some(Value::String(body)) = o.p.memo.get(&key, o.now_ms) {
                return Ok(Got::Document(Some(Ok(body.into_bytes()))));
            }
            if let Some(Value::String(why)) = o.p.failed_docs.get(&url, o.now_ms) {
                return Ok(Got::Document(Some(Err(why))));
            }
            if absent == Absent::Leave {
                return Ok(Got::Document(None));
            }
            let r = fetch::get_json(o.up, &url).await;
            match &r {
                Ok(body) => {
                    if let Ok(text) = std::str::from_utf8(body) {
                        o.p.memo
                            .put(key, Value::String(text.into()), o.now_ms + DOCUMENT_MEMO_MS);
                    }
                }
                // A failure is asked for again only after a minute, however
                // often the link that names it is opened.
                Err(why) => o.p.failed_docs.put(
                    url,
                    Value::String(why.clone()),
                    o.now_ms + DOCUMENT_FAILED_MS,
                ),
            }
            Got::Document(Some(r))
        }
        Need::Scale(key) => {
            let key = crate::config::Secret::new(key);
            let budget = crate::context::Budget::new(o.now_ms, 15_000, 1);
            let call = Call::get().lit("tasks").query("limit", "1");
            Got::Scale(
                Scale::new(o.cfg, Some(&key), o.up, &budget)
                    .send_raw(&call, Retry::Never)
                    .await
                    .map(|_| ()),
            )
        }
    })
}
