//! The callback log: how Scale's deliveries are kept in Workers KV (the
//! [`CallbackStore`] trait at this layer), stored once, listed newest first
//! by task, batch or in full, and read back. The HTTP receiver that feeds it
//! is `webhook`; the tools and MCP resources that read it sit above.
//!
//! Key layout (all keys share the entry's TTL):
//! - `log:{id}` — the entry: `{id, received_at, kind, body}`; listing `log:` is
//!   the whole log, newest first.
//! - `t:{task_id}:{id}` and `b:{batch}:{id}` — empty index keys, so one task's
//!   or one batch's deliveries are a prefix listing, not a scan.
//! - `d:{subject}:{fingerprint}` — the dedupe marker; its value is the id.
//!
//! `id` is `{9999999999999 - received_ms:013}-{fingerprint}`: the inverted
//! time makes lexicographic order newest first, and each delivery gets its own
//! keys, which keeps within KV's one-write-per-second-per-key limit. Every key
//! carries the entry's metadata (kind, task id, batch, status, received time)
//! so listings need no value reads. Names in keys are percent-encoded, so a
//! `:` in a batch name cannot make one prefix match another batch.

pub mod scan;
mod query;

#[cfg(test)]
pub(crate) use query::MAX_PROJECT_READS;
pub use query::{entry_project, get, list, ListError, LogPage, LogQuery};

use crate::codec::{fnv64, iso_from_ms, percent_encode};
use crate::io::{join_all, CallbackStore};
use crate::json::truncate;
use scan::Node;
use serde_json::{json, Map, Value};

/// KV keys are at most 512 bytes; names longer than this are hashed.
const MAX_NAME_IN_KEY: usize = 200;
/// KV metadata is at most 1024 bytes; strings in it are cut to this.
const MAX_META_STR: usize = 180;

/// What a delivery is about.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Delivery {
    pub kind: &'static str,
    pub task_id: Option<String>,
    pub batch: Option<String>,
    pub status: Option<String>,
    pub fingerprint: String,
}

/// Classifies a callback body read by [`scan::scan`]. The fingerprint covers
/// what makes a delivery new (status, response, audits, review status,
/// completion time) and leaves out what Scale may change between retries of
/// the same delivery.
pub(crate) fn classify(body: &Node) -> Delivery {
    let hash_of = |n: Option<&Node>| n.map_or(0, Node::hash);
    let fingerprint = |tag: &str, parts: &[u64]| {
        let h = parts
            .iter()
            .fold(scan::str_hash(tag), |h, p| scan::chain(h, *p));
        format!("{h:016x}")
    };
    let task_id = body
        .str_at(&["task_id"])
        .or_else(|| body.str_at(&["task", "task_id"]));
    if let Some(id) = task_id {
        let task = body.get("task");
        let field = |k: &str| task.and_then(|t| t.get(k));
        let status = body
            .str_at(&["status"])
            .or_else(|| field("status").and_then(Node::as_str));
        return Delivery {
            kind: "task",
            batch: field("batch").and_then(Node::as_str).map(str::to_string),
            task_id: Some(id.to_string()),
            status: status.map(str::to_string),
            fingerprint: fingerprint(
                "task",
                &[
                    scan::str_hash(id),
                    status.map_or(0, scan::str_hash),
                    hash_of(body.get("response").or_else(|| field("response"))),
                    hash_of(field("audits")),
                    hash_of(field("customer_review_status")),
                    hash_of(field("completed_at")),
                ],
            ),
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
            status: body.str_at(&["status"]).map(str::to_string),
            fingerprint: fingerprint(
                "batch",
                &[
                    scan::str_hash(batch),
                    hash_of(body.get("status")),
                    hash_of(body.get("stats")),
                ],
            ),
        };
    }
    Delivery {
        kind: "other",
        task_id: None,
        batch: None,
        status: body.str_at(&["status"]).map(str::to_string),
        fingerprint: fingerprint("other", &[body.hash()]),
    }
}

/// A name as it appears inside a key: encoded, and hashed when too long.
pub(crate) fn key_name(name: &str) -> String {
    let e = percent_encode(name);
    if e.len() <= MAX_NAME_IN_KEY {
        e
    } else {
        format!("~{:016x}", fnv64(name.as_bytes()))
    }
}

pub(crate) fn entry_key(id: &str) -> String {
    format!("log:{id}")
}
pub(crate) fn task_prefix(task_id: &str) -> String {
    format!("t:{}:", key_name(task_id))
}
pub(crate) fn batch_prefix(batch: &str) -> String {
    format!("b:{}:", key_name(batch))
}

pub(crate) fn dedupe_key(d: &Delivery) -> String {
    let subject = match (d.kind, &d.task_id, &d.batch) {
        ("task", Some(t), _) => format!("t{}", key_name(t)),
        ("batch", _, Some(b)) => format!("b{}", key_name(b)),
        _ => "o".to_string(),
    };
    format!("d:{subject}:{}", d.fingerprint)
}

pub(crate) fn new_id(received_ms: u64, fingerprint: &str) -> String {
    format!(
        "{:013}-{fingerprint}",
        9_999_999_999_999u64.saturating_sub(received_ms)
    )
}

/// The metadata stored beside every key of an entry.
pub(crate) fn metadata(d: &Delivery, id: &str, received_ms: u64) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("kind".into(), json!(d.kind));
    m.insert("received_at".into(), json!(iso_from_ms(received_ms)));
    for (k, v) in [
        ("task_id", &d.task_id),
        ("batch", &d.batch),
        ("status", &d.status),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(truncate(v, MAX_META_STR)));
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

/// Stores a delivery once. The dedupe marker is written first and the entry
/// last, so a retry after a partial failure finds the marker, sees the entry
/// missing, and finishes the same id; a complete entry means a duplicate.
/// `raw` is the body's JSON text as received; it is stored as is.
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

/// [`store_delivery`] for a delivery already classified (the receiver needs the
/// classification for its log line too, and fingerprinting a large body twice
/// would be wasted work).
pub(crate) async fn store_classified(
    store: &dyn CallbackStore,
    d: &Delivery,
    raw: &str,
    received_ms: u64,
    ttl_secs: u64,
) -> Result<Stored, String> {
    let dk = dedupe_key(d);
    let (id, resumed) = match store.get(&dk).await? {
        Some(id) if !id.is_empty() => {
            // A listing tells whether the entry exists without reading its (large) value.
            if !store.list(&entry_key(&id), 1, None).await?.keys.is_empty() {
                return Ok(Stored::Duplicate(id));
            }
            (id, true)
        }
        _ => (new_id(received_ms, &d.fingerprint), false),
    };
    // A resumed entry keeps the time of its first arrival, which its id encodes.
    let first_ms = if resumed {
        id.get(..13)
            .and_then(|s| s.parse::<u64>().ok())
            .map(|inv| 9_999_999_999_999 - inv)
            .unwrap_or(received_ms)
    } else {
        received_ms
    };
    let meta = metadata(d, &id, first_ms);
    if !resumed {
        store.put(&dk, &id, ttl_secs, &meta).await?;
    }
    // The index keys do not depend on each other, so they are written together.
    let index: Vec<String> = d
        .task_id
        .iter()
        .map(|t| format!("{}{id}", task_prefix(t)))
        .chain(d.batch.iter().map(|b| format!("{}{id}", batch_prefix(b))))
        .collect();
    let puts = index
        .iter()
        .map(|k| store.put(k, "", ttl_secs, &meta))
        .collect();
    for r in join_all(puts).await {
        r?;
    }
    // The body goes in as received: it is valid JSON already, and large.
    let head = json!({"id": id, "received_at": iso_from_ms(first_ms), "kind": d.kind}).to_string();
    let mut entry = String::with_capacity(head.len() + raw.len() + 10);
    entry.push_str(&head[..head.len() - 1]);
    entry.push_str(",\"body\":");
    entry.push_str(raw.trim());
    entry.push('}');
    store.put(&entry_key(&id), &entry, ttl_secs, &meta).await?;
    Ok(Stored::New(id))
}

#[cfg(test)]
mod tests;
