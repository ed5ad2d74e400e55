//! The `OAUTH` Durable Object binding: the one object that keeps all OAuth
//! state in its SQLite storage ([`OAuthStore`], exported to the runtime),
//! and the worker's client of it, the [`StateStore`] the core calls. The
//! operations themselves are `io::state`'s.

use super::js::{js_err, wait};
use crate::io::state::{apply, Rows, StateStore};
use crate::io::BoxFut;
use js_sys::{Array, Object, Promise, Reflect};
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::*;

/// The Durable Object binding, and the one object all OAuth state lives in.
const BINDING: &str = "OAUTH";
const OBJECT: &str = "oauth";

/// The client of the store, when the `OAUTH` binding is there.
pub(super) fn client(env: &Env) -> Option<DoClient> {
    env.durable_object(BINDING).ok().map(DoClient)
}

/// The worker's side of the store: each call is one request to the object.
pub(super) struct DoClient(ObjectNamespace);

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A Durable Object stub, for its `fetch(url, init)`: called directly
    /// rather than through `worker`'s Request and Response wrappers, which
    /// cost a few KB of wasm for one POST of a string.
    type RawStub;
    #[wasm_bindgen(method, js_name = fetch)]
    fn post(this: &RawStub, url: &str, init: &web_sys::RequestInit) -> Promise;
}

/// How long one call of the object may take. It answers in milliseconds;
/// past this the call is aborted and the worker answers 503 itself, rather
/// than hold the request until the client gives up.
const STORE_TIMEOUT_MS: u32 = 10_000;

impl StateStore for DoClient {
    fn run<'a>(&'a self, ops: &'a Value) -> BoxFut<'a, std::result::Result<Value, String>> {
        Box::pin(async move {
            let stub: RawStub = self
                .0
                .get_by_name(OBJECT)
                .map_err(|e| e.to_string())?
                .into_rpc();
            let init = web_sys::RequestInit::new();
            init.set_method("POST");
            init.set_body(&JsValue::from_str(&ops.to_string()));
            init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(
                STORE_TIMEOUT_MS,
            )));
            let resp: web_sys::Response = wait(Ok(stub.post("https://oauth-store/", &init)))
                .await?
                .unchecked_into();
            let text = wait(resp.text()).await?.as_string().unwrap_or_default();
            if resp.status() != 200 {
                return Err(format!(
                    "HTTP {}: {}",
                    resp.status(),
                    crate::json::truncate(&text, 200)
                ));
            }
            serde_json::from_str(&text).map_err(|e| e.to_string())
        })
    }
}

// The object is declared by hand rather than with `#[durable_object]`:
// that macro converts the request into `worker::Request` and the answer
// from `worker::Response`, conversions linked for this object alone (about
// 3 KiB of the compressed upload); here the body is read and the answer
// made through a few direct bindings.
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The object's `DurableObjectState`, for its SQLite storage.
    pub type RawState;
    #[wasm_bindgen(method, getter)]
    fn storage(this: &RawState) -> RawStorage;
    type RawStorage;
    #[wasm_bindgen(method, getter)]
    fn sql(this: &RawStorage) -> RawSql;
    /// `SqlStorage`: `exec(query, ...bindings)` gives a cursor.
    #[derive(Clone)]
    type RawSql;
    #[wasm_bindgen(method, catch, variadic)]
    fn exec(
        this: &RawSql,
        query: &str,
        bindings: &Array,
    ) -> std::result::Result<RawCursor, JsValue>;
    type RawCursor;
    /// The rows as arrays of column values.
    #[wasm_bindgen(method)]
    fn raw(this: &RawCursor) -> JsValue;
    /// The request the worker's client sends (see `DoClient`).
    pub type RawRequest;
    #[wasm_bindgen(method, catch)]
    fn text(this: &RawRequest) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = Response)]
    type RawResponse;
    #[wasm_bindgen(constructor, js_class = "Response")]
    fn new_text(body: &str, init: &Object) -> RawResponse;
}

/// All OAuth state: one SQLite table of rows (see `io::state`).
#[wasm_bindgen::prelude::wasm_bindgen]
pub struct OAuthStore {
    sql: RawSql,
    swept: Rc<Cell<u64>>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (k TEXT PRIMARY KEY, grp TEXT NOT NULL, body TEXT NOT NULL, exp INTEGER NOT NULL);\
CREATE INDEX IF NOT EXISTS records_grp ON records (grp);\
CREATE INDEX IF NOT EXISTS records_exp ON records (exp) WHERE exp > 0;";

struct Sql<'a>(&'a RawSql);

impl Sql<'_> {
    /// The rows `q` gives with `args` bound, each an array of its columns.
    fn exec(&self, q: &str, args: &[JsValue]) -> std::result::Result<Vec<Array>, String> {
        let bindings: Array = args.iter().collect();
        let cursor = self
            .0
            .exec(q, &bindings)
            .map_err(|e| format!("sqlite: {}", js_err(e)))?;
        Ok(Array::from(&cursor.raw())
            .iter()
            .map(JsCast::unchecked_into)
            .collect())
    }
}

/// Column `i` of a row as text ("" when it is not text).
fn text_of(row: &Array, i: u32) -> String {
    row.get(i).as_string().unwrap_or_default()
}

fn int(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

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
        // The promise outlives this borrow of the object, so it takes its
        // own handles to the storage and the sweep time.
        let (sql, swept) = (self.sql.clone(), self.swept.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let text = wasm_bindgen_futures::JsFuture::from(req.text()?).await?;
            let (status, body) = run(&sql, &swept, &text.as_string().unwrap_or_default());
            let init = Object::new();
            Reflect::set(&init, &"status".into(), &status.into())?;
            Ok(RawResponse::new_text(&body, &init).into())
        })
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
