//! Reading the log: pages of listed keys (metadata only, no value reads)
//! with our own cursor, and single entries by id, passed on as text.

use super::{batch_prefixes, entry_key, name_hash, task_prefixes};
use crate::codec::{base64, base64_decode};
use crate::io::CallbackStore;
use crate::json::json_prefix;
use serde::{Deserialize, Serialize};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};

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

/// Our cursor. In KV order: which of the listing's prefixes, KV's cursor in
/// it and how many keys of that page were used. For a task's listing, which
/// is sorted here: the last id returned.
#[derive(Serialize, Deserialize, Default)]
struct Cursor {
    #[serde(default, skip_serializing_if = "is_zero")]
    p: usize,
    #[serde(default)]
    c: Option<String>,
    #[serde(default)]
    s: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn encode(c: &Cursor) -> String {
    base64(json!(c).to_string().as_bytes())
}

fn decode(c: &str) -> Option<Cursor> {
    serde_json::from_slice(&base64_decode(c)?).ok()
}

/// Whether the metadata's `field` names `name`: the full name, or for one
/// too long to keep whole its cut form plus the hash of the whole.
fn names(meta: &Value, field: &str, name: &str) -> bool {
    let Some(stored) = meta.get(field).and_then(Value::as_str) else {
        return false;
    };
    if stored == name {
        return true;
    }
    let Some(head) = stored.strip_suffix('…') else {
        return false;
    };
    match meta.get(format!("{field}_hash")).and_then(Value::as_str) {
        Some(h) => name.starts_with(head) && h == name_hash(name),
        // The old layout cut names at 180 characters and kept no hash.
        None => head.chars().count() == 180 && name.starts_with(head),
    }
}

/// Whether a listed entry (its metadata as stored) passes the query's filters.
fn keep(q: &LogQuery, meta: Option<&Value>) -> bool {
    let meta = meta.unwrap_or(&Value::Null);
    q.status
        .as_deref()
        .is_none_or(|s| meta.get("status").and_then(Value::as_str) == Some(s))
        && q.task_id
            .as_deref()
            .is_none_or(|t| names(meta, "task_id", t))
        && q.batch.as_deref().is_none_or(|b| names(meta, "batch", b))
}

/// A listed key's metadata as a list item (the name hashes are the store's).
fn item(name: &str, meta: Option<&Value>) -> Value {
    let mut item = meta.cloned().unwrap_or(Value::Null);
    if let Value::Object(m) = &mut item {
        m.retain(|k, _| !k.ends_with("_hash"));
    }
    if item.get("id").is_none() {
        item["id"] = json!(name.rsplit(':').next().unwrap_or(""));
    }
    item
}

/// Lists the log (or one task's or batch's part of it), newest first.
pub async fn list(store: &dyn CallbackStore, q: &LogQuery) -> Result<LogPage, ListError> {
    let cursor = match &q.cursor {
        None => Cursor::default(),
        Some(c) => decode(c).ok_or(ListError::BadCursor)?,
    };
    match (&q.task_id, &q.batch) {
        (Some(t), _) => list_sorted(store, q, &task_prefixes(t), cursor.a).await,
        (None, Some(b)) => list_in_order(store, q, &batch_prefixes(b), cursor).await,
        _ => list_in_order(store, q, &["log:".to_string()], cursor).await,
    }
}

/// Lists keys in KV's order (newest first by their ids), one prefix after
/// the other.
async fn list_in_order(
    store: &dyn CallbackStore,
    q: &LogQuery,
    prefixes: &[String],
    mut at: Cursor,
) -> Result<LogPage, ListError> {
    let mut items = Vec::new();
    for _ in 0..MAX_LIST_CALLS {
        let Some(prefix) = prefixes.get(at.p) else {
            break;
        };
        let page = store
            .list(prefix, KV_PAGE, at.c.as_deref())
            .await
            .map_err(ListError::Store)?;
        let n = page.keys.len();
        for (i, k) in page.keys.iter().enumerate().skip(at.s) {
            if !keep(q, k.metadata.as_ref()) {
                continue;
            }
            items.push(item(&k.name, k.metadata.as_ref()));
            if items.len() == q.limit {
                let next = if i + 1 < n {
                    Some(Cursor { s: i + 1, ..at })
                } else {
                    next_page(page.cursor, at.p, prefixes.len())
                };
                return Ok(LogPage {
                    items,
                    next_cursor: next.as_ref().map(encode),
                });
            }
        }
        match next_page(page.cursor, at.p, prefixes.len()) {
            Some(c) => at = c,
            None => {
                return Ok(LogPage {
                    items,
                    next_cursor: None,
                })
            }
        }
    }
    Ok(LogPage {
        items,
        next_cursor: (at.p < prefixes.len()).then(|| encode(&at)),
    })
}

/// Where listing goes on after a KV page: its next page, else the next prefix.
fn next_page(kv: Option<String>, p: usize, prefixes: usize) -> Option<Cursor> {
    match kv {
        Some(c) => Some(Cursor {
            p,
            c: Some(c),
            ..Cursor::default()
        }),
        None if p + 1 < prefixes => Some(Cursor {
            p: p + 1,
            ..Cursor::default()
        }),
        None => None,
    }
}

/// One task's deliveries: few, keyed by content, so read whole and sorted by id.
async fn list_sorted(
    store: &dyn CallbackStore,
    q: &LogQuery,
    prefixes: &[String],
    after: Option<String>,
) -> Result<LogPage, ListError> {
    let mut all: Vec<(String, Value)> = Vec::new();
    let mut calls = 0;
    'prefixes: for prefix in prefixes {
        let mut kv: Option<String> = None;
        loop {
            if calls == MAX_LIST_CALLS {
                break 'prefixes;
            }
            calls += 1;
            let page = store
                .list(prefix, KV_PAGE, kv.as_deref())
                .await
                .map_err(ListError::Store)?;
            for k in &page.keys {
                if keep(q, k.metadata.as_ref()) {
                    let it = item(&k.name, k.metadata.as_ref());
                    let id = it["id"].as_str().unwrap_or("").to_string();
                    all.push((id, it));
                }
            }
            match page.cursor {
                Some(c) => kv = Some(c),
                None => break,
            }
        }
    }
    // Ids sort newest first.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    let start = after.map_or(0, |a| all.partition_point(|(id, _)| *id <= a));
    let rest = &all[start.min(all.len())..];
    let page: Vec<Value> = rest.iter().take(q.limit).map(|(_, v)| v.clone()).collect();
    let next_cursor = (rest.len() > q.limit).then(|| {
        encode(&Cursor {
            a: Some(rest[q.limit - 1].0.clone()),
            ..Cursor::default()
        })
    });
    Ok(LogPage {
        items: page,
        next_cursor,
    })
}

#[derive(Debug, PartialEq)]
pub enum ListError {
    BadCursor,
    Store(String),
}

/// Reads one stored entry by id, as the JSON text it was stored as.
pub async fn get(store: &dyn CallbackStore, id: &str) -> Result<Option<String>, String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return Ok(None);
    }
    store.get(&entry_key(id)).await
}

/// A stored entry within `max` bytes, passed through as text (never parsed
/// into a tree: entries hold bodies of up to 25 MiB). A larger one keeps
/// its `id`, `received_at` and `kind`; its `body` becomes the beginning of
/// the body's JSON text, as a string, and `truncated` says so.
pub fn fit_entry(text: String, max: usize) -> Result<Box<RawValue>, String> {
    let bad = |e: serde_json::Error| format!("stored entry is not JSON: {e}");
    if text.len() <= max {
        return RawValue::from_string(text).map_err(bad);
    }
    #[derive(Deserialize)]
    struct Entry<'a> {
        id: &'a str,
        received_at: Option<&'a str>,
        kind: &'a str,
        #[serde(borrow)]
        body: &'a RawValue,
    }
    #[derive(Serialize)]
    struct Cut<'a> {
        id: &'a str,
        received_at: Option<&'a str>,
        kind: &'a str,
        body: &'a str,
        truncated: Note,
    }
    #[derive(Serialize)]
    struct Note {
        body_bytes: usize,
        reason: String,
        how_to_get_more: &'static str,
    }
    let e: Entry = serde_json::from_str(&text).map_err(bad)?;
    let body = e.body.get();
    let mut cut = Cut {
        id: e.id,
        received_at: e.received_at,
        kind: e.kind,
        body: "",
        truncated: Note {
            body_bytes: body.len(),
            reason: format!(
                "the delivery is larger than the {} KB result limit: `body` is the beginning of its JSON text, cut there",
                max / 1024
            ),
            how_to_get_more: "For a task callback, get_task returns the task as Scale has it now, its response included.",
        },
    };
    // What the rest takes, then as much of the body's text as fits, escaped.
    let frame = to_raw_value(&cut).map_err(bad)?.get().len();
    cut.body = json_prefix(body, max.saturating_sub(frame));
    to_raw_value(&cut).map_err(bad)
}
