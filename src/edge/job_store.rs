//! The `JOBS_STATE` Durable Object of the jobs worker (docs/jobs.md §3, §9):
//! one per job ([`JobStore`], exported to the runtime), and one per
//! signed-in user's grant that started jobs (named `grant:<id>`, holding only
//! whether the grant was revoked). The store's rules are `tools::job_store`'s;
//! here are its SQLite tables and the object's alarm, which deletes a job's
//! rows when its ttl ends.

use super::durable::{int, serve, text_of, RawRequest, RawSql, RawState, RawStorage, Sql};
use super::js::{js_err, wait};
use crate::tools::job_store::{apply, Op, Row, Rows};
use js_sys::{Array, Function, Promise};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, wasm_bindgen_futures};

#[wasm_bindgen]
extern "C" {
    /// `setAlarm(ms)`: the object's alarm runs then (one per object).
    #[wasm_bindgen(method, catch, js_name = setAlarm)]
    fn set_alarm(this: &RawStorage, at: f64) -> Result<JsValue, JsValue>;
    /// `deleteAll()`: everything the object stores goes.
    #[wasm_bindgen(method, catch, js_name = deleteAll)]
    fn delete_all(this: &RawStorage) -> Result<Promise, JsValue>;
    /// `transactionSync(f)`: runs `f`, and undoes its writes if it throws.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(this: &RawStorage, f: &Function) -> Result<JsValue, JsValue>;
}

/// One job: its header and its items (see `tools::job_store`).
#[wasm_bindgen]
pub struct JobStore {
    storage: RawStorage,
    sql: RawSql,
    /// Whether the tables exist (the alarm deletes them with everything).
    ready: Rc<Cell<bool>>,
    /// When this instance last set the alarm for (0: not yet), so that it
    /// is set once, not with every change of the header.
    alarm: Rc<Cell<u64>>,
}

/// The header (one row) with when the job's rows go; the items by line,
/// with an index of each chunk's pending items (what a chunk's message
/// claims) and one of the items done (the pages of outcomes).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL, exp INTEGER NOT NULL);\
CREATE TABLE IF NOT EXISTS items (line INTEGER PRIMARY KEY, chunk INTEGER NOT NULL, uid TEXT NOT NULL, body TEXT NOT NULL, outcome INTEGER NOT NULL, attempts INTEGER NOT NULL, task TEXT NOT NULL, status INTEGER, error TEXT NOT NULL);\
CREATE INDEX IF NOT EXISTS items_pending ON items (chunk) WHERE outcome = 0;\
CREATE INDEX IF NOT EXISTS items_done ON items (line) WHERE outcome <> 0;";

/// An item's columns, in the order [`row_of`] reads them (`body` last, left
/// out where the answer does not need it).
macro_rules! item {
    () => {
        "SELECT line, uid, outcome, attempts, task, status, error"
    };
}

/// The fixed answer of a failed operation (the error is logged).
const FAILED: &str = "the job store failed";

/// A job's tables, for one operation.
struct Table<'a> {
    sql: Sql<'a>,
    /// When the header last written says the job's rows go.
    exp: Option<u64>,
}

/// Column `i` as a number (0 when it is not one).
fn num(row: &Array, i: u32) -> u64 {
    row.get(i).as_f64().unwrap_or(0.0) as u64
}

/// An item as `item!()` (with or without `body`) lists it.
fn row_of(r: &Array) -> Row {
    Row {
        line: num(r, 0) as u32,
        unique_id: text_of(r, 1),
        outcome: num(r, 2) as u8,
        attempts: num(r, 3) as u8,
        task_id: text_of(r, 4),
        status: r.get(5).as_f64().map(|s| s as u16),
        error: text_of(r, 6),
        body: text_of(r, 7),
    }
}

impl Rows for Table<'_> {
    fn header(&mut self) -> Result<Option<String>, String> {
        let rows = self.sql.exec("SELECT body FROM job", &[])?;
        Ok(rows.first().map(|r| text_of(r, 0)))
    }
    fn set_header(&mut self, json: &str, expires: u64) -> Result<(), String> {
        self.sql.exec(
            "INSERT OR REPLACE INTO job (id, body, exp) VALUES (1, ?, ?)",
            &[json.into(), int(expires)],
        )?;
        self.exp = Some(expires);
        Ok(())
    }
    fn insert(&mut self, rows: &[(u32, u32, &str, &str)]) -> Result<(), String> {
        for &(line, chunk, uid, body) in rows {
            self.sql.exec(
                "INSERT OR REPLACE INTO items (line, chunk, uid, body, outcome, attempts, task, status, error) VALUES (?, ?, ?, ?, 0, 0, '', NULL, '')",
                &[line.into(), chunk.into(), uid.into(), body.into()],
            )?;
        }
        Ok(())
    }
    fn pending(&mut self, chunk: u32) -> Result<Vec<Row>, String> {
        let rows = self.sql.exec(
            concat!(
                item!(),
                ", body FROM items WHERE chunk = ? AND outcome = 0 ORDER BY line"
            ),
            &[chunk.into()],
        )?;
        Ok(rows.iter().map(row_of).collect())
    }
    fn set(&mut self, row: &Row) -> Result<(), String> {
        self.sql
            .exec(
                "UPDATE items SET outcome = ?, attempts = ?, task = ?, status = ?, error = ? WHERE line = ?",
                &[
                    row.outcome.into(),
                    row.attempts.into(),
                    row.task_id.as_str().into(),
                    row.status.map_or(JsValue::NULL, JsValue::from),
                    row.error.as_str().into(),
                    row.line.into(),
                ],
            )
            .map(|_| ())
    }
    fn outcomes(&mut self, after: u32, limit: u32) -> Result<Vec<Row>, String> {
        let rows = self.sql.exec(
            concat!(
                item!(),
                " FROM items WHERE outcome <> 0 AND line > ? ORDER BY line LIMIT ?"
            ),
            &[after.into(), limit.into()],
        )?;
        Ok(rows.iter().map(row_of).collect())
    }
    fn drop_items(&mut self) -> Result<(), String> {
        self.sql.exec("DELETE FROM items", &[]).map(|_| ())
    }
    fn wipe(&mut self) -> Result<(), String> {
        self.sql
            .exec("DELETE FROM items; DELETE FROM job", &[])
            .map(|_| ())
    }
}

#[wasm_bindgen]
impl JobStore {
    #[wasm_bindgen(constructor)]
    pub fn new(state: RawState, _env: JsValue) -> JobStore {
        let storage = state.storage();
        JobStore {
            sql: storage.sql(),
            storage,
            ready: Rc::default(),
            alarm: Rc::default(),
        }
    }

    /// One operation of the worker's client: an `Op` as JSON in, its
    /// `Answer` as JSON out (500 with a fixed text when the store failed).
    pub fn fetch(&self, req: RawRequest) -> Promise {
        // The answer outlives this borrow of the object, so it takes its
        // own handles to the storage and the instance's state.
        let (storage, sql) = (self.storage.clone(), self.sql.clone());
        let (ready, alarm) = (self.ready.clone(), self.alarm.clone());
        serve(
            req,
            Box::new(move |text| {
                Box::pin(async move {
                    let (status, body, exp) = run(&storage, sql, &ready, &text);
                    match exp {
                        Some(at) if at != alarm.get() => {
                            // Stored with the operation's writes; the
                            // answer waits for it.
                            if let Err(e) = set_alarm(&storage, at).await {
                                console_error!("job store: the alarm was not set: {e}");
                                return (500, FAILED.into());
                            }
                            alarm.set(at);
                        }
                        _ => {}
                    }
                    (status, body)
                })
            }),
        )
    }

    /// The job's ttl has ended: everything the object stores goes. (Should
    /// the header live on, the alarm is set again for its end.)
    pub fn alarm(&self) -> Promise {
        let (storage, sql) = (self.storage.clone(), self.sql.clone());
        let (ready, alarm) = (self.ready.clone(), self.alarm.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let exp = Sql(&sql)
                .exec("SELECT exp FROM job", &[])
                .ok()
                .and_then(|rows| rows.first().map(|r| num(r, 0)));
            match exp {
                Some(exp) if exp > js_sys::Date::now() as u64 => {
                    set_alarm(&storage, exp).await?;
                    alarm.set(exp);
                }
                _ => {
                    ready.set(false);
                    alarm.set(0);
                    wait(storage.delete_all()).await?;
                }
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// An operation's answer as JSON and when the header it wrote says the
/// job's rows go, or why it failed.
type Applied = Result<(String, Option<u64>), String>;

/// Sets the object's alarm for `at` (ms).
async fn set_alarm(storage: &RawStorage, at: u64) -> Result<JsValue, String> {
    wait(storage.set_alarm(at as f64).map(|p| Promise::resolve(&p))).await
}

/// Runs one operation in one transaction: its writes are stored together,
/// or not at all when it fails. Gives the answer and, when the operation
/// wrote the header, when the job's rows go (its alarm's time).
#[inline(never)]
fn run(
    storage: &RawStorage,
    sql: RawSql,
    ready: &Cell<bool>,
    text: &str,
) -> (u16, String, Option<u64>) {
    let Some(op) = Op::from_json(text) else {
        console_error!("job store: not an operation");
        return (400, "not a job store operation".into(), None);
    };
    if !ready.get() {
        if let Err(e) = Sql(&sql).exec(SCHEMA, &[]) {
            console_error!("job store: {e}");
            return (500, FAILED.into(), None);
        }
        ready.set(true);
    }
    let now = js_sys::Date::now() as u64;
    let out: Rc<RefCell<Applied>> =
        Rc::new(RefCell::new(Err("the transaction did not run".into())));
    let slot = out.clone();
    let body = Closure::once_into_js(move || -> Result<(), JsValue> {
        let mut t = Table {
            sql: Sql(&sql),
            exp: None,
        };
        let r = apply(&mut t, op, now).map(|a| a.to_json());
        let failed = r.is_err();
        *slot.borrow_mut() = r.map(|a| (a, t.exp));
        // Thrown, so that the transaction is rolled back.
        if failed {
            return Err(JsValue::from_str(FAILED));
        }
        Ok(())
    });
    let done = storage.transaction_sync(body.unchecked_ref());
    let out = out.replace(Err(String::new()));
    match (done, out) {
        (Ok(_), Ok((answer, exp))) => (200, answer, exp),
        (Err(e), Ok(_)) => {
            console_error!("job store: {}", js_err(e));
            (500, FAILED.into(), None)
        }
        (_, Err(e)) => {
            console_error!("job store: {e}");
            (500, FAILED.into(), None)
        }
    }
}
