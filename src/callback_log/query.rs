//! Reading the log: pages of listed keys (metadata only, no value reads)
//! with our own cursor, and single entries by id. A listing confined to
//! projects reads each delivery's project from its key metadata, or, for
//! entries stored without it there, from the stored task (a value read, at
//! most [`MAX_PROJECT_READS`] per listing).

use super::{batch_prefix, entry_key, task_prefix};
use crate::codec::{base64, base64_decode};
use crate::io::CallbackStore;
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
    /// Only deliveries about these projects (a connection's project scope);
    /// deliveries whose project is unknown (batch callbacks) are left out.
    pub projects: Option<Vec<String>>,
}

/// KV pages read at most per listing, so a sparse status filter stays cheap.
const MAX_LIST_CALLS: usize = 5;
/// Entries read at most per listing to learn their project; past it the
/// page ends early with a cursor (KV allows 1000 operations per request).
pub(crate) const MAX_PROJECT_READS: usize = 25;
const KV_PAGE: u32 = 1000;

/// Our cursor: KV's cursor for the page plus how many keys of it were used.
fn encode_cursor(kv: Option<&str>, skip: usize) -> String {
    base64(json!({"c": kv, "s": skip}).to_string().as_bytes())
}

fn decode_cursor(c: &str) -> Option<(Option<String>, usize)> {
    let bytes = base64_decode(c)?;
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
    let mut reads = 0;
    for _ in 0..MAX_LIST_CALLS {
        let page = store
            .list(&prefix, KV_PAGE, kv_cursor.as_deref())
            .await
            .map_err(ListError::Store)?;
        let n = page.keys.len();
        for (i, k) in page.keys.iter().enumerate().skip(skip) {
            let meta = k.metadata.clone().unwrap_or(Value::Null);
            let id = meta
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_else(|| k.name.rsplit(':').next().unwrap_or(""))
                .to_string();
            if let Some(allowed) = &q.projects {
                let known = meta.get("project").and_then(Value::as_str);
                let project = match known {
                    Some(p) => Some(p.to_string()),
                    None if meta.get("kind").and_then(Value::as_str) == Some("task") => {
                        if reads == MAX_PROJECT_READS {
                            // Resume at this key next time.
                            return Ok(LogPage {
                                items,
                                next_cursor: Some(encode_cursor(kv_cursor.as_deref(), i)),
                            });
                        }
                        reads += 1;
                        stored_project(store, &id).await.map_err(ListError::Store)?
                    }
                    None => None,
                };
                if !project.is_some_and(|p| allowed.contains(&p)) {
                    continue;
                }
            }
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
                    item["id"] = json!(id);
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

/// The project of a stored task delivery (`body.task.project`), read with
/// the receiver's own scan rather than as a tree (entries can be megabytes).
/// The body is the last field of an entry as [`super::store_classified`]
/// writes it; an entry laid out otherwise has no project here.
pub(crate) fn project_in_entry(text: &str) -> Option<String> {
    let start = text.find(",\"body\":")? + 8;
    let body = text.get(start..text.len().checked_sub(1)?)?;
    super::scan::scan(body.as_bytes())
        .ok()?
        .str_at(&["task", "project"])
        .map(str::to_string)
}

async fn stored_project(store: &dyn CallbackStore, id: &str) -> Result<Option<String>, String> {
    Ok(store
        .get(&entry_key(id))
        .await?
        .and_then(|t| project_in_entry(&t)))
}

/// The project of an entry as [`get`] returns it (`body.task.project`).
pub fn entry_project(entry: &Value) -> Option<&str> {
    entry.get("body")?.get("task")?.get("project")?.as_str()
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
