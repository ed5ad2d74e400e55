//! The Scale callback receiver and the callback log in KV.
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

pub mod resources;
pub mod scan;

use crate::app::{Incoming, Outgoing};
use crate::config::{matches_any, Config};
use crate::io::CallbackStore;
use crate::json::truncate;
use crate::scale::encode;
use scan::Node;
use serde_json::{json, Map, Value};

/// KV keys are at most 512 bytes; names longer than this are hashed.
const MAX_NAME_IN_KEY: usize = 200;
/// KV metadata is at most 1024 bytes; strings in it are cut to this.
const MAX_META_STR: usize = 180;

/// What a delivery is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub kind: &'static str,
    pub task_id: Option<String>,
    pub batch: Option<String>,
    pub status: Option<String>,
    pub fingerprint: String,
}

/// FNV-1a, 64 bit: stable across builds and platforms, for hashed key names
/// and the scan's string hashes.
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Classifies a callback body read by [`scan::scan`]. The fingerprint covers
/// what makes a delivery new (status, response, audits, review status,
/// completion time) and leaves out what Scale may change between retries of
/// the same delivery.
pub fn classify(body: &Node) -> Delivery {
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
pub fn key_name(name: &str) -> String {
    let e = encode(name);
    if e.len() <= MAX_NAME_IN_KEY {
        e
    } else {
        format!("~{:016x}", fnv64(name.as_bytes()))
    }
}

pub fn entry_key(id: &str) -> String {
    format!("log:{id}")
}
pub fn task_prefix(task_id: &str) -> String {
    format!("t:{}:", key_name(task_id))
}
pub fn batch_prefix(batch: &str) -> String {
    format!("b:{}:", key_name(batch))
}

fn dedupe_key(d: &Delivery) -> String {
    let subject = match (d.kind, &d.task_id, &d.batch) {
        ("task", Some(t), _) => format!("t{}", key_name(t)),
        ("batch", _, Some(b)) => format!("b{}", key_name(b)),
        _ => "o".to_string(),
    };
    format!("d:{subject}:{}", d.fingerprint)
}

pub fn new_id(received_ms: u64, fingerprint: &str) -> String {
    format!(
        "{:013}-{fingerprint}",
        9_999_999_999_999u64.saturating_sub(received_ms)
    )
}

/// The metadata stored beside every key of an entry.
pub fn metadata(d: &Delivery, id: &str, received_ms: u64) -> Value {
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

/// Formats Unix milliseconds as an ISO 8601 UTC time.
pub fn iso_from_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The outcome of storing one delivery.
#[derive(Debug, PartialEq)]
pub enum Stored {
    New(String),
    Duplicate(String),
}

/// Stores a delivery once. The dedupe marker is written first and the entry
/// last, so a retry after a partial failure finds the marker, sees the entry
/// missing, and finishes the same id; a complete entry means a duplicate.
/// `raw` is the body's JSON text as received; it is stored as is.
pub async fn store_delivery(
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
async fn store_classified(
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
    for r in crate::io::join_all(puts).await {
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

fn answer(status: u16, v: Value) -> Outgoing {
    Outgoing::json(status, &v)
}

/// `POST /webhooks/scale`.
pub async fn receive(
    req: &Incoming,
    cfg: &Config,
    store: Option<&dyn CallbackStore>,
    now_ms: u64,
) -> Outgoing {
    if cfg.callback_keys.is_empty() {
        return answer(503, json!({"error": "not_configured", "message": "This receiver is not configured to accept callbacks."})).log(
            "webhook: refused a delivery because SCALE_CALLBACK_AUTH_KEY is not set; set it to Scale's Live Callback Auth Key with `wrangler secret put SCALE_CALLBACK_AUTH_KEY`",
        );
    }
    match req.header("scale-callback-auth") {
        Some(k) if matches_any(k.trim(), &cfg.callback_keys) => {}
        Some(_) => {
            return answer(
                401,
                json!({"error": "unauthorized", "message": "invalid scale-callback-auth header"}),
            )
            .log("webhook: refused a delivery with a wrong scale-callback-auth header")
        }
        None => {
            return answer(
                401,
                json!({"error": "unauthorized", "message": "missing scale-callback-auth header"}),
            )
            .log("webhook: refused a delivery without a scale-callback-auth header")
        }
    }
    if req.body_too_large(cfg.webhook_max_bytes) {
        return answer(413, json!({"error": "too_large", "message": format!("callback bodies are limited to {} bytes (WEBHOOK_MAX_BYTES)", cfg.webhook_max_bytes)}))
            .log("webhook: refused a delivery larger than WEBHOOK_MAX_BYTES");
    }
    let body = match scan::scan(&req.body) {
        Ok(n @ Node::Obj(..)) => n,
        Ok(_) => {
            return answer(
                400,
                json!({"error": "bad_request", "message": "a callback body must be a JSON object"}),
            )
        }
        Err(m) => return answer(400, json!({"error": "bad_request", "message": m})),
    };
    let Some(kv) = store else {
        // 5xx so Scale keeps the delivery and retries once the binding exists.
        return answer(
            503,
            json!({"error": "not_configured", "message": "callback log storage is not available"}),
        )
        .log("webhook: the CALLBACKS KV namespace is not bound; add it to wrangler.toml");
    };
    let ttl = cfg.callback_ttl_days as u64 * 86_400;
    // The scan accepted the bytes, so they are UTF-8.
    let raw = std::str::from_utf8(&req.body).unwrap_or("null");
    let d = classify(&body);
    match store_classified(kv, &d, raw, now_ms, ttl).await {
        Ok(Stored::New(id)) => {
            answer(200, json!({"stored": true, "id": id})).log(format!(
                "webhook: stored {} callback {id} (task {}, status {})",
                d.kind,
                d.task_id.as_deref().map(|t| truncate(t, 64)).unwrap_or_else(|| "-".into()),
                d.status.as_deref().map(|t| truncate(t, 32)).unwrap_or_else(|| "-".into())
            ))
        }
        Ok(Stored::Duplicate(id)) => answer(200, json!({"stored": false, "duplicate_of": id})).log(format!("webhook: duplicate delivery of {id} ignored")),
        Err(e) => answer(503, json!({"error": "storage_failed", "message": "the callback could not be stored; retry later"}))
            .header("retry-after", "30")
            .log(format!("webhook: KV write failed, answered 503 so Scale retries: {}", truncate(&e, 200))),
    }
}

/// One page of the log, newest first, as listed (no value reads).
#[derive(Debug, Default, PartialEq)]
pub struct LogPage {
    pub items: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub task_id: Option<String>,
    pub batch: Option<String>,
    pub status: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// KV pages read at most per listing, so a sparse status filter stays cheap.
const MAX_LIST_CALLS: usize = 5;
const KV_PAGE: u32 = 1000;

/// Our cursor: KV's cursor for the page plus how many keys of it were used.
fn encode_cursor(kv: Option<&str>, skip: usize) -> String {
    crate::scale::base64(json!({"c": kv, "s": skip}).to_string().as_bytes())
}

fn decode_cursor(c: &str) -> Option<(Option<String>, usize)> {
    let bytes = crate::scale::base64_decode(c)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let skip = v.get("s")?.as_u64()? as usize;
    let kv = match v.get("c")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        _ => return None,
    };
    Some((kv, skip))
}

/// Lists the log (or one task's or batch's part of it), newest first.
pub async fn list(store: &dyn CallbackStore, q: &LogQuery) -> Result<LogPage, ListError> {
    let prefix = match (&q.task_id, &q.batch) {
        (Some(t), _) => task_prefix(t),
        (None, Some(b)) => batch_prefix(b),
        _ => "log:".to_string(),
    };
    let (mut kv_cursor, mut skip) = match &q.cursor {
        None => (None, 0),
        Some(c) => decode_cursor(c).ok_or(ListError::BadCursor)?,
    };
    let mut items = Vec::new();
    for _ in 0..MAX_LIST_CALLS {
        let page = store
            .list(&prefix, KV_PAGE, kv_cursor.as_deref())
            .await
            .map_err(ListError::Store)?;
        let n = page.keys.len();
        for (i, k) in page.keys.iter().enumerate().skip(skip) {
            let meta = k.metadata.clone().unwrap_or(Value::Null);
            // A task listing that also filters by batch (or status) narrows by metadata.
            let keep = q
                .status
                .as_deref()
                .is_none_or(|s| meta.get("status").and_then(Value::as_str) == Some(s))
                && (q.task_id.is_none()
                    || q.batch
                        .as_deref()
                        .is_none_or(|b| meta.get("batch").and_then(Value::as_str) == Some(b)));
            if keep {
                let mut item = meta;
                if item.get("id").is_none() {
                    item["id"] = json!(k.name.rsplit(':').next().unwrap_or(""));
                }
                items.push(item);
                if items.len() == q.limit {
                    let next = if i + 1 < n {
                        Some(encode_cursor(kv_cursor.as_deref(), i + 1))
                    } else {
                        page.cursor.as_deref().map(|c| encode_cursor(Some(c), 0))
                    };
                    return Ok(LogPage {
                        items,
                        next_cursor: next,
                    });
                }
            }
        }
        match page.cursor {
            Some(c) => {
                kv_cursor = Some(c);
                skip = 0;
            }
            None => {
                return Ok(LogPage {
                    items,
                    next_cursor: None,
                })
            }
        }
    }
    Ok(LogPage {
        next_cursor: kv_cursor.as_deref().map(|c| encode_cursor(Some(c), 0)),
        items,
    })
}

#[derive(Debug, PartialEq)]
pub enum ListError {
    BadCursor,
    Store(String),
}

/// Reads one stored entry by id.
pub async fn get(store: &dyn CallbackStore, id: &str) -> Result<Option<Value>, String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return Ok(None);
    }
    match store.get(&entry_key(id)).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("stored entry is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests;
