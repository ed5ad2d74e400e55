//! The `OAUTH` Durable Object binding: the one object that keeps all OAuth
//! state in its SQLite storage ([`OAuthStore`], exported to the runtime),
//! and the worker's client of it, the [`StateStore`] the core calls. The
//! operations themselves are `io::state`'s.

use super::durable::{call, int, serve, text_of, RawRequest, RawSql, RawState, Sql};
use crate::io::state::{apply, Rows, StateStore};
use crate::io::BoxFut;
use js_sys::Promise;
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::*;

/// The Durable Object binding, and the one object all OAuth state lives in.
const BINDING: &str = "OAUTH";
const OBJECT: &str = "oauth";

/// The client of the store, when the `OAUTH` binding is there.
pub(super) fn client(env: &Env) -> Option<DoClient> {
    env.durable_object(BINDING).ok().map(DoClient)
}

/// The worker's side of the store: each call is one request to the object
/// (see `durable::call`; past its time limit the worker answers 503 itself).
pub(super) struct DoClient(ObjectNamespace);

impl StateStore for DoClient {
    fn run<'a>(&'a self, ops: &'a Value) -> BoxFut<'a, std::result::Result<Value, String>> {
        Box::pin(async move {
            let text = call(&self.0, OBJECT, "https://oauth-store/", &ops.to_string()).await?;
            serde_json::from_str(&text).map_err(|e| e.to_string())
        })
    }
}

/// All OAuth state: one SQLite table of rows (see `io::state`). Declared
/// by hand, as `durable` explains.
#[wasm_bindgen::prelude::wasm_bindgen]
pub struct OAuthStore {
    sql: RawSql,
    swept: Rc<Cell<u64>>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (k TEXT PRIMARY KEY, grp TEXT NOT NULL, body TEXT NOT NULL, exp INTEGER NOT NULL);\
CREATE INDEX IF NOT EXISTS records_grp ON records (grp);\
CREATE INDEX IF NOT EXISTS records_exp ON records (exp) WHERE exp > 0;";

impl Rows for Sql<'_> {
    fn get(&mut self, key: &str, now: u64) -> std::result::Result<Option<String>, String> {
        let rows = self.exec(
            "SELECT body FROM records WHERE k = ? AND (exp = 0 OR exp > ?)",
            &[key.into(), int(now)],
        )?;
        Ok(rows.first().map(|r| text_of(r, 0)))
    }
    fn put(
        &mut self,
        key: &str,
        group: &str,
        body: &str,
        expires: u64,
    ) -> std::result::Result<(), String> {
        self.exec(
            "INSERT OR REPLACE INTO records (k, grp, body, exp) VALUES (?, ?, ?, ?)",
            &[key.into(), group.into(), body.into(), int(expires)],
        )
        .map(|_| ())
    }
    fn delete(&mut self, key: &str, group: &str) -> std::result::Result<(), String> {
        self.exec(
            "DELETE FROM records WHERE k = ?1 OR (?2 <> '' AND grp = ?2)",
            &[key.into(), group.into()],
        )
        .map(|_| ())
    }
    fn list(
        &mut self,
        group: &str,
        now: u64,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let rows = self.exec(
            "SELECT k, body FROM records WHERE grp = ? AND (exp = 0 OR exp > ?) ORDER BY k LIMIT 500",
            &[group.into(), int(now)],
        )?;
        Ok(rows
            .iter()
            .map(|r| (text_of(r, 0), text_of(r, 1)))
            .collect())
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
impl OAuthStore {
    #[wasm_bindgen(constructor)]
    pub fn new(state: RawState, _env: JsValue) -> OAuthStore {
        let sql = state.storage().sql();
        // Idempotent; a failure here shows as an error on the first call.
        let _ = Sql(&sql).exec(SCHEMA, &[]);
        OAuthStore {
            sql,
            swept: Rc::default(),
        }
    }

    /// One call of the worker's client: a JSON list of operations in, the
    /// JSON reply out (500 with a fixed text when the store failed).
    pub fn fetch(&self, req: RawRequest) -> Promise {
        // The answer outlives this borrow of the object, so it takes its
        // own handles to the storage and the sweep time.
        let (sql, swept) = (self.sql.clone(), self.swept.clone());
        serve(
            req,
            Box::new(move |text| Box::pin(async move { run(&sql, &swept, &text) })),
        )
    }
}

/// Runs one call's operations in one synchronous step: no other request
/// runs in between, and the call's writes are committed together.
#[inline(never)]
fn run(sql: &RawSql, swept: &Cell<u64>, text: &str) -> (u16, String) {
    let ops: Value = serde_json::from_str(text).unwrap_or_default();
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let mut db = Sql(sql);
    if now >= swept.get() + 60 {
        swept.set(now);
        if let Err(e) = db.exec(
            "DELETE FROM records WHERE exp > 0 AND exp <= ?",
            &[int(now)],
        ) {
            console_error!("oauth store: sweep failed: {e}");
        }
    }
    match apply(&mut db, &ops, now) {
        Ok(v) => (200, v.to_string()),
        Err(e) => {
            console_error!("oauth store: {e}");
            (500, "the OAuth store failed".into())
        }
    }
}
