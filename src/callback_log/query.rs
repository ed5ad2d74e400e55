//! Reading the log: pages of listed keys (metadata only, no value reads)
//! with our own cursor, and single entries by id, passed on as text. A
//! listing confined to projects keeps the deliveries whose key metadata
//! names one of them: batch callbacks (which carry no project) and entries
//! of the layout before the current one (which kept no project there) are
//! left out of it.

use super::{batch_prefixes, entry_key, name_hash, task_prefixes};
use crate::io::CallbackStore;
use serde_json::{Map, Value};

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
    /// Only deliveries about these projects (a connection's project scope);
    /// deliveries whose project is unknown (batch callbacks) are left out.
    pub projects: Option<Vec<String>>,
}

/// KV pages read at most per listing, so a sparse status filter stays cheap.
const MAX_LIST_CALLS: usize = 5;
const KV_PAGE: u32 = 1000;

/// Our cursor, written `{s}:{c}`. In KV order: how many keys of a KV page
/// were used (`s`) and KV's cursor for that page (`c`). For a listing sorted
/// here, `c` is the last id returned.
#[derive(Default)]
struct Cursor {
    s: usize,
    c: Option<String>,
}

fn encode(c: &Cursor) -> String {
    format!("{}:{}", c.s, c.c.as_deref().unwrap_or(""))
}

fn decode(text: &str) -> Option<Cursor> {
    let (s, c) = text.split_once(':')?;
    Some(Cursor {
        s: s.parse().ok()?,
        c: (!c.is_empty()).then(|| c.to_string()),
    })
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
        && q.projects.as_ref().is_none_or(|allowed| {
            meta.get("project")
                .and_then(Value::as_str)
                .is_some_and(|p| allowed.iter().any(|a| a == p))
        })
}

/// A listed key's metadata as a list item.
fn item(name: &str, meta: Option<&Value>) -> Value {
    let mut item = meta.cloned().unwrap_or(Value::Null);
    if item.get("id").is_none() {
        item["id"] = Value::from(name.rsplit(':').next().unwrap_or(""));
    }
    item
}

/// Lists the log (or one task's or batch's part of it), newest first.
pub async fn list(store: &dyn CallbackStore, q: &LogQuery) -> Result<LogPage, ListError> {
    let cursor = match &q.cursor {
        None => Cursor::default(),
        Some(c) => decode(c).ok_or(ListError::BadCursor)?,
    };
    let prefixes = match (&q.task_id, &q.batch) {
        (Some(t), _) => task_prefixes(t),
        (None, Some(b)) => batch_prefixes(b),
        _ => vec!["log:".to_string()],
    };
    // A task's keys follow its contents, and a long name is also listed
    // under the old layout's prefix: those are sorted here.
    if q.task_id.is_some() || prefixes.len() > 1 {
        list_sorted(store, q, &prefixes, cursor.c).await
    } else {
        list_in_order(store, q, &prefixes[0], cursor).await
    }
}

/// Lists keys in KV's order, which their ids make newest first.
async fn list_in_order(
    store: &dyn CallbackStore,
    q: &LogQuery,
    prefix: &str,
    mut at: Cursor,
) -> Result<LogPage, ListError> {
    let mut items = Vec::new();
    for _ in 0..MAX_LIST_CALLS {
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
                    page.cursor.map(|c| Cursor { s: 0, c: Some(c) })
                };
                return Ok(LogPage {
                    items,
                    next_cursor: next.as_ref().map(encode),
                });
            }
        }
        match page.cursor {
            Some(c) => at = Cursor { s: 0, c: Some(c) },
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
        next_cursor: Some(encode(&at)),
    })
}

/// Keys read whole (at most [`MAX_LIST_CALLS`] pages) and sorted by id: a
/// task's deliveries are few.
async fn list_sorted(
    store: &dyn CallbackStore,
    q: &LogQuery,
    prefixes: &[String],
    after: Option<String>,
) -> Result<LogPage, ListError> {
    // Keyed by id, which sorts newest first.
    let mut all = Map::new();
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
                    all.insert(it["id"].as_str().unwrap_or("").to_string(), it);
                }
            }
            match page.cursor {
                Some(c) => kv = Some(c),
                None => break,
            }
        }
    }
    let mut rest = all
        .into_iter()
        .filter(|(id, _)| after.as_ref().is_none_or(|a| id > a));
    let mut items = Vec::new();
    let mut last = None;
    for (id, v) in rest.by_ref().take(q.limit) {
        items.push(v);
        last = Some(id);
    }
    let next_cursor = rest.next().and(last).map(|a| {
        encode(&Cursor {
            c: Some(a),
            ..Cursor::default()
        })
    });
    Ok(LogPage { items, next_cursor })
}

#[derive(Debug, PartialEq)]
pub enum ListError {
    BadCursor,
    Store(String),
}

/// The project of a stored task delivery (`body.task.project`), read with
/// the receiver's own scan rather than as a tree. The body is the last field
/// of an entry as [`super::store_classified`] writes it; an entry laid out
/// otherwise has no project here.
pub fn project_in_entry(text: &str) -> Option<String> {
    let start = text.find(",\"body\":")? + 8;
    let body = text.get(start..text.len().checked_sub(1)?)?;
    super::scan::scan(body.as_bytes())
        .ok()?
        .str_at(&["task", "project"])
        .map(str::to_string)
}

/// Reads one stored entry by id, as the JSON text it was stored as (entries
/// hold bodies of up to 25 MiB: they are passed on as text, never parsed
/// into a tree).
pub async fn get(store: &dyn CallbackStore, id: &str) -> Result<Option<String>, String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return Ok(None);
    }
    store.get(&entry_key(id)).await
}
