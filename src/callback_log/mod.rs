//! The callback log: how Scale's deliveries are kept in Workers KV (the
//! [`CallbackStore`] trait at this layer), stored once, listed newest first
//! by task, batch or in full, and read back. The HTTP receiver that feeds it
//! is `webhook`; the tools and MCP resources that read it sit above.
//!
//! Key layout (every key carries the entry's TTL and its metadata):
//! - `log:{id}` — the entry `{id, received_at, kind, body}`; listing `log:` is
//!   the whole log, newest first.
//! - `t:{task}:{fp}` — a task delivery (value: its id). Listing `t:{task}:`
//!   gives one task's deliveries (a handful; sorted by id when read), and as
//!   the key follows from the body, one `get` finds a repeat of it.
//! - `b:{batch}:{id}` — empty: one batch's deliveries, its own and its
//!   tasks', newest first.
//! - `k:{batch}:{fp}` and `o:{fp}` — what finds a repeat of a batch delivery
//!   and of any other delivery (value: the id).
//!
//! So a new delivery costs 3 KV writes for a task in a batch (`t:`, `b:`,
//! `log:`), 2 for a task without one, 3 for a batch callback and 2 for
//! anything else, and no list; a repeat costs two reads and no write.
//!
//! `id` is `{9999999999999 - received_ms:013}-{fp}`: the inverted time makes
//! lexicographic order newest first. `fp` is the body's structural hash (16
//! hex digits; layout and key order do not change it). A matching `fp` is
//! only a candidate: the stored body's bytes are compared with the new one,
//! and a body that differs is stored as a delivery of its own under the next
//! free slot of the key (`….1`, `….2`, …), so no delivery is ever dropped for
//! a hash and a repeat of any of them is still found.
//!
//! Names in keys are percent-encoded (all but `A-Za-z0-9-._~`), so a `:` in a
//! batch name cannot make one prefix match another. A name whose encoding is
//! longer than [`MAX_NAME_IN_KEY`] is keyed as `*{fnv64}`; the encoder always
//! escapes `*`, so no real name looks like that, and listings compare the
//! full name from the metadata (a name too long for the metadata is kept cut,
//! with a hash of the whole name beside it).
//!
//! Tenants: the operator's log is the unprefixed one above; a user signed
//! in with their own Scale account has the same layout behind `@{tenant}/`
//! ([`TenantLog`]), which no listing of the operator's prefixes matches, so
//! neither reads the other's deliveries. Room to grow without a migration: a
//! project index `p:{project}:{id}` beside `b:`; the metadata already holds
//! the task's or batch's `project`.
//!
//! The layout before this one also wrote `d:{subject}:{fp}` markers and
//! `t:{task}:{id}` index keys, and keyed long names as `~{fnv64}`: `log:` and
//! `b:` keys are unchanged, old `t:` keys are listed with the new ones, old
//! long-name prefixes are listed after the new ones (all their entries are
//! older), and the markers expire.

pub mod scan;
mod query;

pub use query::{get, list, project_in_entry, ListError, LogPage, LogQuery};

use crate::codec::{fnv64, iso_from_ms, percent_encode};
use crate::io::{BoxFut, CallbackStore, ListPage};
use crate::json::{json_prefix, object, RawFields};
use scan::Node;
use serde_json::{Map, Value};
use std::rc::Rc;

/// One tenant's part of the log: the same store with every key behind
/// `@{tenant}/`. Listed names keep the prefix; readers take an entry's id
/// from the name's last `:` field, which the prefix does not change.
pub(crate) struct TenantLog {
    inner: Rc<dyn CallbackStore>,
    prefix: String,
}

impl TenantLog {
    pub(crate) fn new(inner: Rc<dyn CallbackStore>, tenant: &str) -> TenantLog {
        TenantLog {
            inner,
            prefix: format!("@{tenant}/"),
        }
    }
}

impl CallbackStore for TenantLog {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let key = format!("{}{key}", self.prefix);
            self.inner.put(&key, value, ttl_secs, metadata).await
        })
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<String>, String>> {
        Box::pin(async move { self.inner.get(&format!("{}{key}", self.prefix)).await })
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, Result<ListPage, String>> {
        Box::pin(async move {
            let prefix = format!("{}{prefix}", self.prefix);
            self.inner.list(&prefix, limit, cursor).await
        })
    }
}

/// KV keys are at most 512 bytes; names encoded longer than this are hashed.
pub(crate) const MAX_NAME_IN_KEY: usize = 200;
/// Distinct bodies with one hash that each get a subject key of their own.
const MAX_SLOTS: u32 = 4;

/// The serialised size each metadata string may take (quotes included): with
/// the fixed fields and the hashes of cut names the whole stays under KV's
/// 1024 bytes of metadata.
const META_BUDGET: [(&str, usize); 4] = [
    ("task_id", 200),
    ("batch", 240),
    ("status", 64),
    ("project", 200),
];

/// What a delivery is about.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Delivery {
    pub kind: &'static str,
    pub task_id: Option<String>,
    pub batch: Option<String>,
    pub status: Option<String>,
    pub project: Option<String>,
    /// The body's structural hash, as 16 hex digits.
    pub fingerprint: String,
}

/// Classifies a callback body read by [`scan::scan`].
pub(crate) fn classify(body: &Node) -> Delivery {
    let fingerprint = format!("{:016x}", body.hash());
    let own = |k: &str| body.str_at(&[k]).map(str::to_string);
    let task_id = body
        .str_at(&["task_id"])
        .or_else(|| body.str_at(&["task", "task_id"]));
    if let Some(id) = task_id {
        let field = |k: &str| body.str_at(&["task", k]).map(str::to_string);
        return Delivery {
            kind: "task",
            task_id: Some(id.to_string()),
            batch: field("batch"),
            status: own("status").or_else(|| field("status")),
            project: field("project").or_else(|| own("project")),
            fingerprint,
        };
    }
    if let Some(batch) = body
        .str_at(&["batch"])
        .or_else(|| body.str_at(&["batch", "name"]))
    {
        return Delivery {
            kind: "batch",
            task_id: None,
            batch: Some(batch.to_string()),
            status: own("status"),
            project: own("project")
                .or_else(|| body.str_at(&["batch", "project"]).map(str::to_string)),
            fingerprint,
        };
    }
    Delivery {
        kind: "other",
        task_id: None,
        batch: None,
        status: own("status"),
        project: own("project"),
        fingerprint,
    }
}

/// A name as it appears inside a key: encoded, or `*{fnv64}` when too long.
pub(crate) fn key_name(name: &str) -> String {
    let e = percent_encode(name);
    if e.len() <= MAX_NAME_IN_KEY {
        e
    } else {
        format!("*{:016x}", fnv64(name.as_bytes()))
    }
}

/// The prefixes that list `name` under `kind` (`t` or `b`): today's, then
/// the old layout's for a long name (`~{fnv64}`, entries all older).
fn prefixes(kind: char, name: &str) -> Vec<String> {
    let new = key_name(name);
    let mut out = vec![format!("{kind}:{new}:")];
    if let Some(hash) = new.strip_prefix('*') {
        out.push(format!("{kind}:~{hash}:"));
    }
    out
}

pub(crate) fn entry_key(id: &str) -> String {
    format!("log:{id}")
}
pub(crate) fn task_prefixes(task_id: &str) -> Vec<String> {
    prefixes('t', task_id)
}
pub(crate) fn batch_prefixes(batch: &str) -> Vec<String> {
    prefixes('b', batch)
}

/// The key that finds a repeat of `d`: for a task also its index key.
pub(crate) fn subject_key(d: &Delivery) -> String {
    match (d.kind, &d.task_id, &d.batch) {
        ("task", Some(t), _) => format!("t:{}:{}", key_name(t), d.fingerprint),
        ("batch", _, Some(b)) => format!("k:{}:{}", key_name(b), d.fingerprint),
        _ => format!("o:{}", d.fingerprint),
    }
}

pub(crate) fn new_id(received_ms: u64, fingerprint: &str) -> String {
    format!(
        "{:013}-{fingerprint}",
        9_999_999_999_999u64.saturating_sub(received_ms)
    )
}

/// The arrival time an id encodes.
fn time_of(id: &str) -> Option<u64> {
    let inv: u64 = id.get(..13)?.parse().ok()?;
    Some(9_999_999_999_999 - inv)
}

/// The hash kept beside a name that had to be cut in the metadata.
pub(crate) fn name_hash(name: &str) -> String {
    format!("{:016x}", scan::str_hash(name))
}

/// The metadata stored beside every key of an entry, within KV's 1024
/// bytes however long or odd the names are: each string is cut to its share
/// as serialised, and a cut one gets `{field}_hash`, the hash of its whole
/// value, so listings can still compare the full name.
pub(crate) fn metadata(d: &Delivery, id: &str, received_ms: u64) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    m.insert("kind".into(), Value::from(d.kind));
    m.insert("received_at".into(), Value::from(iso_from_ms(received_ms)));
    let values = [&d.task_id, &d.batch, &d.status, &d.project];
    for ((field, budget), v) in META_BUDGET.iter().zip(values) {
        let Some(v) = v else { continue };
        // Two bytes of the budget are the quotes.
        if json_prefix(v, budget - 2).len() == v.len() {
            m.insert(field.to_string(), Value::from(v.as_str()));
        } else {
            let cut = format!("{}…", json_prefix(v, budget - 2 - '…'.len_utf8()));
            m.insert(field.to_string(), Value::from(cut));
            m.insert(format!("{field}_hash"), Value::from(name_hash(v)));
        }
    }
    Value::Object(m)
}

/// The outcome of storing one delivery.
#[derive(Debug, PartialEq)]
pub(crate) enum Stored {
    New(String),
    Duplicate(String),
}

/// Stores a delivery once (see [`store_classified`]).
#[cfg(test)]
pub(crate) async fn store_delivery(
    store: &dyn CallbackStore,
    raw: &str,
    received_ms: u64,
    ttl_secs: u64,
) -> Result<Stored, String> {
    let d = classify(&scan::scan(raw.as_bytes())?);
    store_classified(store, &d, raw, received_ms, ttl_secs).await
}

/// Whether a stored entry holds `raw` as its body, byte for byte.
fn holds_body(entry: &str, raw: &str) -> bool {
    serde_json::from_str::<RawFields>(entry)
        .is_ok_and(|e| e.get("body").is_some_and(|b| b.get() == raw))
}

/// Stores a delivery already classified (the receiver needs the
/// classification for its log line too). `raw` is the body's JSON text as
/// received; it is stored as is.
///
/// The subject key is written first and the entry last, so a retry after a
/// partial failure finds the key, sees the entry missing, and finishes the
/// same id; an entry whose body is the same bytes means a repeat.
pub(crate) async fn store_classified(
    store: &dyn CallbackStore,
    d: &Delivery,
    raw: &str,
    received_ms: u64,
    ttl_secs: u64,
) -> Result<Stored, String> {
    let raw = raw.trim();
    let mut id = new_id(received_ms, &d.fingerprint);
    let mut first_ms = received_ms;
    // Bodies that share a hash take the next slot (`{key}.1`, …): each slot
    // is checked against its own stored body, so a repeat of any of them is
    // found and none is ever dropped.
    let base = subject_key(d);
    let mut slot = 0;
    let subject = loop {
        let key = if slot == 0 {
            base.clone()
        } else {
            format!("{base}.{slot}")
        };
        let Some(found) = store.get(&key).await?.filter(|v| !v.is_empty()) else {
            break Some(key);
        };
        match store.get(&entry_key(&found)).await? {
            None => {
                // An earlier attempt stopped before its entry: finish it under
                // its id, which also keeps the time of its first arrival.
                first_ms = time_of(&found).unwrap_or(received_ms);
                id = found;
                break None;
            }
            Some(entry) if holds_body(&entry, raw) => return Ok(Stored::Duplicate(found)),
            Some(_) if slot < MAX_SLOTS => slot += 1,
            // Out of slots: still stored (a task's keyed by its id, to be listed).
            Some(_) => {
                break d
                    .task_id
                    .as_ref()
                    .filter(|_| d.kind == "task")
                    .map(|t| format!("t:{}:{id}", key_name(t)))
            }
        }
    };
    let meta = metadata(d, &id, first_ms);
    if let Some(k) = &subject {
        store.put(k, &id, ttl_secs, &meta).await?;
    }
    if let Some(b) = &d.batch {
        let k = format!("b:{}:{id}", key_name(b));
        store.put(&k, "", ttl_secs, &meta).await?;
    }
    // The body goes in as received: it is valid JSON already, and large.
    let head = object(vec![
        ("id", Value::from(id.as_str())),
        ("received_at", Value::from(iso_from_ms(first_ms))),
        ("kind", Value::from(d.kind)),
    ])
    .to_string();
    let mut entry = String::with_capacity(head.len() + raw.len() + 10);
    entry.push_str(&head[..head.len() - 1]);
    entry.push_str(",\"body\":");
    entry.push_str(raw);
    entry.push('}');
    store.put(&entry_key(&id), &entry, ttl_secs, &meta).await?;
    Ok(Stored::New(id))
}

#[cfg(test)]
mod tests;
