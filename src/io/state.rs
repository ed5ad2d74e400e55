//! The consistent store (a SQLite-backed Durable Object at the edge) as a
//! handful of operations on rows, and a per-isolate memo.
//!
//! A row is a key, a group (to list or delete rows together), a body of text
//! and an expiry (Unix seconds, 0 for never); an expired row counts as absent
//! whether or not it has been swept. One call to [`StateStore::run`] sends a
//! list of operations that [`apply`] runs in one step with nothing in
//! between: in the Durable Object no other request runs during it and its
//! writes are committed together. So codes are spent once, refresh tokens
//! rotate once and revocation cannot interleave, whatever the isolate.
//!
//! The operations are generic on purpose: every OAuth decision is made in the
//! worker, the object only keeps rows. Each is a JSON array of the same
//! shape, `[name, key, group, body, number, expected]` (unused places may be
//! left out or empty), and the reply is an array with one value per operation:
//! - `get` → the body of row `key`, or `null`;
//! - `put` → `null`: writes row `key` in `group` with `body`, expiring at `number`;
//! - `del` → `null`: deletes row `key` and every row of `group` (none when it is empty);
//! - `list` → `[[key, body], ...]` of the live rows of group `key`, by key;
//! - `cas` → `true`: a `put` made only if the row's body is `expected`
//!   (`null`: absent). A precondition: every `cas` of a call is checked
//!   before anything is written, and if one fails nothing is and the whole
//!   reply is `null`;
//! - `hit` → `[count, ends]`: counts one more in a fixed window of `number`
//!   seconds (rate limits).
//!
//! Kept as `serde_json::Value`, not derived types: the derived (de)serializers
//! of typed operations and records measured about 20 KiB of the compressed
//! upload on the first OAuth branch, and `Value` is already linked.

use super::BoxFut;
use serde_json::{Map, Value};
use std::cell::RefCell;

/// The store a request reaches (the Durable Object's client at the edge).
pub trait StateStore {
    /// Runs `ops` in one atomic step; `Err` is the platform's message.
    fn run<'a>(&'a self, ops: &'a Value) -> BoxFut<'a, Result<Value, String>>;
}

/// The table the operations run on, synchronously (SQL inside the object).
pub trait Rows {
    /// The body of row `key` if it is live at `now`.
    fn get(&mut self, key: &str, now: u64) -> Result<Option<String>, String>;
    fn put(&mut self, key: &str, group: &str, body: &str, expires: u64) -> Result<(), String>;
    /// Deletes row `key` and, unless `group` is empty, every row of `group`.
    fn delete(&mut self, key: &str, group: &str) -> Result<(), String>;
    /// `(key, body)` of the live rows of `group`, by key, at most 500.
    fn list(&mut self, group: &str, now: u64) -> Result<Vec<(String, String)>, String>;
}

fn text(op: &[Value], i: usize) -> &str {
    op.get(i).and_then(Value::as_str).unwrap_or("")
}

fn num(op: &[Value], i: usize) -> u64 {
    op.get(i).and_then(Value::as_u64).unwrap_or(0)
}

/// Runs one call's operations (see the module doc) against `db` at `now`.
pub fn apply(db: &mut dyn Rows, ops: &Value, now: u64) -> Result<Value, String> {
    let ops: Vec<&[Value]> = ops
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|op| op.as_array().map_or(&[][..], Vec::as_slice))
        .collect();
    for op in &ops {
        if text(op, 0) == "cas"
            && db.get(text(op, 1), now)?.as_deref() != op.get(5).and_then(Value::as_str)
        {
            return Ok(Value::Null);
        }
    }
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let (key, group, body, number) = (text(op, 1), text(op, 2), text(op, 3), num(op, 4));
        out.push(match text(op, 0) {
            "get" => db.get(key, now)?.map_or(Value::Null, Value::String),
            "put" | "cas" => {
                db.put(key, group, body, number)?;
                if text(op, 0) == "cas" {
                    Value::Bool(true)
                } else {
                    Value::Null
                }
            }
            "del" => {
                db.delete(key, group)?;
                Value::Null
            }
            "list" => Value::Array(
                db.list(key, now)?
                    .into_iter()
                    .map(|(k, b)| Value::Array(vec![Value::String(k), Value::String(b)]))
                    .collect(),
            ),
            "hit" => {
                // Body "ends count": the window's end and what was counted in it.
                let (ends, count) = db
                    .get(key, now)?
                    .and_then(|b| {
                        let (e, c) = b.split_once(' ')?;
                        Some((e.parse::<u64>().ok()?, c.parse::<u64>().ok()?))
                    })
                    .unwrap_or((now + number, 0));
                db.put(key, "", &format!("{ends} {}", count + 1), ends)?;
                Value::Array(vec![(count + 1).into(), ends.into()])
            }
            other => return Err(format!("unknown store operation `{other}`")),
        });
    }
    Ok(Value::Array(out))
}

/// A store operation (see the module doc); `cas` adds its expected body.
#[inline(never)]
pub fn op(name: &str, key: &str, group: &str, body: &str, number: u64) -> Value {
    Value::Array(vec![
        name.into(),
        key.into(),
        group.into(),
        body.into(),
        number.into(),
    ])
}

/// A `cas` operation: `put` only if row `key` holds `expected` (`None`: absent).
pub fn cas(key: &str, expected: Option<&str>, group: &str, body: &str, expires: u64) -> Value {
    let mut c = op("cas", key, group, body, expires);
    if let Value::Array(a) = &mut c {
        a.push(expected.map_or(Value::Null, Value::from));
    }
    c
}

/// Runs store operations on `state`: their answers, or `None` when a `cas`
/// failed.
pub fn rows<'a>(
    state: &'a dyn StateStore,
    ops: &'a Value,
) -> BoxFut<'a, Result<Option<Vec<Value>>, String>> {
    Box::pin(async move {
        match state
            .run(ops)
            .await
            .map_err(|e| format!("the OAuth store failed: {e}"))?
        {
            Value::Array(r) => Ok(Some(r)),
            _ => Ok(None),
        }
    })
}

/// A value kept for good in row `row` of `state`, read once per isolate and
/// then pinned in `memo`; when the row is absent, `fresh` is written
/// (isolates may race to write it: the first write wins). The server key
/// and the OAuth server's first sighting of an older token shape live so.
pub fn kept<'a>(
    state: &'a dyn StateStore,
    memo: &'a Memo,
    row: &'a str,
    fresh: String,
) -> BoxFut<'a, Result<String, String>> {
    Box::pin(async move {
        if let Some(Value::String(v)) = memo.get(row, 0) {
            return Ok(v);
        }
        let v = loop {
            let get = Value::Array(vec![op("get", row, "", "", 0)]);
            let stored = rows(state, &get).await?.unwrap_or_default();
            if let Some(v) = stored.first().and_then(Value::as_str) {
                break v.to_string();
            }
            let put = Value::Array(vec![cas(row, None, "", &fresh, 0)]);
            if rows(state, &put).await?.is_some() {
                break fresh;
            }
        };
        // Kept until the end of time: the memo evicts it last of all.
        memo.put(row.into(), Value::String(v.clone()), u64::MAX);
        Ok(v)
    })
}

/// What one isolate remembers between requests: JSON values by key, each
/// until a time, in a `serde_json::Map` (the type is already linked) of
/// `[until_ms, value]`; and apart from them, the keys found absent in the
/// store (a negative cache). Both are bounded: a new key past the bound
/// evicts the one entry that expires first (an expired one, when there is
/// one), never the whole map, so a flood of distinct keys costs memory only
/// up to the bound and drops only what would have expired soonest. A value
/// kept until `u64::MAX` (the generated server key) is therefore the last
/// to go, and misses, however many, never evict a value.
#[derive(Default)]
pub struct Memo {
    hits: RefCell<Map<String, Value>>,
    misses: RefCell<Map<String, Value>>,
}

pub const MEMO_MAX: usize = 2000;
/// The negative cache's bound: small, since every miss it holds was paid
/// for with a store read.
pub const MISSES_MAX: usize = 256;

/// Inserts into a bounded map (see [`Memo`]).
fn bounded_put(
    map: &RefCell<Map<String, Value>>,
    max: usize,
    key: String,
    value: Value,
    until: u64,
) {
    let mut m = map.borrow_mut();
    if m.len() >= max && !m.contains_key(key.as_str()) {
        // The entry that expires first (the first such, in key order).
        let mut first: Option<(&String, u64)> = None;
        for (k, e) in m.iter() {
            let until = e[0].as_u64().unwrap_or(0);
            if first.is_none_or(|(_, f)| until < f) {
                first = Some((k, until));
            }
        }
        let first = first.map(|(k, _)| k.clone()).unwrap_or_default();
        m.remove(first.as_str());
    }
    m.insert(key, Value::Array(vec![until.into(), value]));
}

fn live(map: &RefCell<Map<String, Value>>, key: &str, now_ms: u64) -> Option<Value> {
    let m = map.borrow();
    let e = m.get(key)?;
    (e[0].as_u64()? > now_ms).then(|| e[1].clone())
}

impl Memo {
    pub fn get(&self, key: &str, now_ms: u64) -> Option<Value> {
        live(&self.hits, key, now_ms)
    }
    pub fn put(&self, key: String, value: Value, until_ms: u64) {
        bounded_put(&self.hits, MEMO_MAX, key, value, until_ms);
    }
    /// Whether `key` was found absent in the store and that is remembered.
    pub fn missed(&self, key: &str, now_ms: u64) -> bool {
        live(&self.misses, key, now_ms).is_some()
    }
    /// Remembers that `key` is absent from the store, until `until_ms`.
    pub fn miss(&self, key: String, until_ms: u64) {
        bounded_put(&self.misses, MISSES_MAX, key, Value::Null, until_ms);
    }
    /// Forgets every entry whose value has `field` equal to `value`.
    pub fn forget(&self, field: &str, value: &str) {
        self.hits
            .borrow_mut()
            .retain(|_, e| e[1].get(field).and_then(Value::as_str) != Some(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::MemoryRows as MemoryState;
    use serde_json::json;

    fn run(db: &mut MemoryState, ops: Value) -> Value {
        apply(db, &ops, 100).unwrap()
    }

    #[test]
    fn rows_are_put_read_listed_and_deleted_with_their_group() {
        let mut db = MemoryState::default();
        let r = run(
            &mut db,
            json!([
                ["put", "g:1", "u", "grant", 0],
                ["put", "a:x", "g:1", "tok", 150],
                ["put", "a:y", "g:1", "old", 50],
                ["get", "a:x"],
                ["get", "a:y"],
                ["list", "g:1"]
            ]),
        );
        assert_eq!(r, json!([null, null, null, "tok", null, [["a:x", "tok"]]]));
        let r = run(
            &mut db,
            json!([
                ["del", "g:1", "g:1"],
                ["get", "g:1"],
                ["get", "a:x"],
                ["list", "u"]
            ]),
        );
        assert_eq!(r, json!([null, null, null, []]));
    }

    #[test]
    fn a_failed_precondition_writes_nothing() {
        let mut db = MemoryState::default();
        assert_eq!(
            run(&mut db, json!([cas("c:1", None, "", "new", 0)])),
            json!([true])
        );
        // The put comes first in the list, and still is not made.
        let r = run(
            &mut db,
            json!([["put", "x", "", "1", 0], cas("c:1", None, "", "again", 0)]),
        );
        assert_eq!(r, Value::Null);
        assert_eq!(
            run(&mut db, json!([["get", "x"], ["get", "c:1"]])),
            json!([null, "new"])
        );
        let r = run(
            &mut db,
            json!([
                cas("c:1", Some("new"), "", "used", 0),
                op("put", "x", "", "1", 0)
            ]),
        );
        assert_eq!(r, json!([true, null]));
        assert_eq!(run(&mut db, json!([["get", "c:1"]])), json!(["used"]));
        assert!(apply(&mut db, &json!([["drop"]]), 100).is_err());
    }

    #[test]
    fn hits_count_in_fixed_windows() {
        let mut db = MemoryState::default();
        let hit = || json!([op("hit", "r:a", "", "", 60)]);
        assert_eq!(run(&mut db, hit()), json!([[1, 160]]));
        assert_eq!(run(&mut db, hit()), json!([[2, 160]]));
        assert_eq!(apply(&mut db, &hit(), 160).unwrap(), json!([[1, 220]]));
    }

    #[test]
    fn the_memo_keeps_values_until_their_time_and_forgets_by_field() {
        let m = Memo::default();
        m.put("a".into(), json!({"g": "g_1"}), 1000);
        m.put("b".into(), json!({"g": "g_2"}), 1000);
        assert_eq!(m.get("a", 999), Some(json!({"g": "g_1"})));
        assert_eq!(m.get("a", 1000), None);
        m.forget("g", "g_1");
        assert_eq!(m.get("a", 0), None);
        assert!(m.get("b", 0).is_some());
    }

    #[test]
    fn a_full_memo_evicts_one_entry_at_a_time_soonest_expiry_first() {
        let m = Memo::default();
        m.put("key".into(), json!("server key"), u64::MAX);
        m.put("stale".into(), json!(1), 10);
        for i in 0..MEMO_MAX - 2 {
            m.put(format!("t{i}"), json!(i), 5000 + i as u64);
        }
        // Full: a new key evicts the expired entry first, then the soonest to expire.
        m.put("new".into(), json!(2), 9000);
        assert!(m.get("new", 100).is_some() && m.get("t0", 100).is_some());
        assert_eq!(m.hits.borrow().len(), MEMO_MAX);
        m.put("newer".into(), json!(3), 9000);
        assert_eq!(m.get("t0", 100), None, "the soonest to expire");
        assert!(m.get("t1", 100).is_some() && m.get("new", 100).is_some());
        // A flood of keys, however long, never evicts the pinned value,
        // and replacing a key evicts nothing.
        for i in 0..MEMO_MAX + 100 {
            m.put(format!("flood{i}"), json!(i), 20_000 + i as u64);
        }
        assert_eq!(m.get("key", 100), Some(json!("server key")));
        assert_eq!(m.hits.borrow().len(), MEMO_MAX);
        let last = format!("flood{}", MEMO_MAX + 99);
        m.put(last.clone(), json!(0), 30_000);
        assert!(
            m.get("flood101", 100).is_some(),
            "the soonest to expire stays"
        );
        assert_eq!(m.get(&last, 100), Some(json!(0)));
        // Misses have a bound of their own and never evict a value.
        m.put("real".into(), json!("token"), 1_000_000);
        for i in 0..4 * MISSES_MAX {
            m.miss(format!("junk{i}"), 2_000_000 + i as u64);
        }
        assert!(m.missed(&format!("junk{}", 4 * MISSES_MAX - 1), 100));
        assert!(!m.missed("junk0", 100), "the oldest miss went first");
        assert_eq!(m.get("real", 100), Some(json!("token")));
        assert_eq!(m.get("key", 100), Some(json!("server key")));
        assert_eq!(m.misses.borrow().len(), MISSES_MAX);
    }
}
