//! The jobs queue's consumer: the runtime's `queue` handler, for the `JOBS`
//! queue and its dead-letter queue. Each message's body (the text
//! `Jobs::send` put on the queue) goes to `app::jobs::consume_batch` with
//! the settings and services `fetch` has; each message is then acknowledged
//! or retried as its verdict says, one by one.
//!
//! Exported by hand rather than with `#[event(queue)]`: that macro hands
//! over `worker`'s `MessageBatch`, whose retry with a delay serialises its
//! options through serde-wasm-bindgen, which this worker does not link.
//! `worker_sys`'s bindings of the batch and its messages (`worker`'s
//! `queue` feature) are used directly instead.

use super::js::js_err;
use crate::app::jobs::{consume_batch, Message, Verdict};
use crate::http::is_audit_line;
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{Message as RawMessage, MessageBatch};
use worker::{console_log, wasm_bindgen_futures, Env};

/// The dead-letter queue (wrangler.toml): its messages are ones the jobs
/// queue gave up on.
const DEAD_LETTERS: &str = "scale-mcp-jobs-dlq";

/// The longest delay a retry may ask for (12 hours).
const MAX_DELAY_S: u32 = 43_200;

/// The runtime's `queue` handler (worker-build's shim calls the export of
/// this name with the batch, the environment and the context).
#[wasm_bindgen(js_name = queue)]
pub fn consume(batch: MessageBatch, env: Env, _ctx: JsValue) -> Promise {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::future_to_promise(async move {
        match run(batch, env).await {
            true => Err(JsValue::from_str(
                "a testing hook stopped this consumer mid-chunk",
            )),
            false => Ok(JsValue::UNDEFINED),
        }
    })
}

/// What became of the batch's messages, for its log line.
#[derive(Default)]
struct Tally {
    acked: u32,
    retried: u32,
    notes: Vec<String>,
}

impl Tally {
    fn ack(&mut self, m: &RawMessage) {
        match m.ack() {
            Ok(()) => self.acked += 1,
            Err(e) => self.notes.push(format!("ack failed: {}", js_err(e))),
        }
    }

    /// Retries `m` after `delay_s` seconds, or after the queue's own delay.
    fn retry(&mut self, m: &RawMessage, delay_s: Option<u32>) {
        let options = match delay_s {
            Some(s) => {
                let o = Object::new();
                let _ = Reflect::set(
                    &o,
                    &JsValue::from_str("delaySeconds"),
                    &s.min(MAX_DELAY_S).into(),
                );
                o.into()
            }
            None => JsValue::UNDEFINED,
        };
        match m.retry(options) {
            Ok(()) => self.retried += 1,
            Err(e) => self.notes.push(format!("retry failed: {}", js_err(e))),
        }
    }
}

/// Handles the batch; `true` when a `testing` build's hook made it die (it
/// then fails as a whole, nothing acknowledged, as when the platform stops
/// a consumer).
async fn run(batch: MessageBatch, env: Env) -> bool {
    let started = js_sys::Date::now();
    let name = batch.queue().map(String::from).unwrap_or_default();
    let dead = name == DEAD_LETTERS;
    let all: Vec<RawMessage> = batch
        .messages()
        .map(|a| a.iter().map(JsCast::unchecked_into).collect())
        .unwrap_or_default();
    let total = all.len();
    let mut tally = Tally::default();
    // A message without a text body was not put there by `Jobs::send`:
    // nothing can be done with it, so it is acknowledged, and logged.
    let (mut kept, mut messages) = (Vec::new(), Vec::new());
    for m in all {
        match m.body().ok().and_then(|b| b.as_string()) {
            Some(body) => {
                messages.push(Message { body, dead });
                kept.push(m);
            }
            None => {
                let id = m.id().map(String::from).unwrap_or_default();
                tally
                    .notes
                    .push(format!("message {id} has no text body: acknowledged"));
                tally.ack(&m);
            }
        }
    }
    if !messages.is_empty() {
        let (raw, services) = super::platform(&env);
        #[cfg(feature = "testing")]
        if env.var("TEST_DIE_MID_CHUNK").is_ok() {
            crate::tools::bulk::consume::arm_death_once();
        }
        let (verdicts, lines) = consume_batch(&messages, &raw, services).await;
        tally.notes.extend(lines);
        #[cfg(feature = "testing")]
        if verdicts.contains(&Verdict::Retry(crate::tools::bulk::consume::DIED)) {
            console_log!("QUEUE {name}: died mid-chunk | {}", tally.notes.join(" | "));
            return true;
        }
        for (i, m) in kept.iter().enumerate() {
            match verdicts.get(i) {
                Some(Verdict::Ack) => tally.ack(m),
                Some(Verdict::Retry(s)) => tally.retry(m, Some(*s)),
                None => {
                    tally.notes.push(format!(
                        "no verdict for message {}: retried",
                        m.id().map(String::from).unwrap_or_default()
                    ));
                    tally.retry(m, None);
                }
            }
        }
    }
    // One line for the batch with its notes, and each audit line (a JSON
    // object) on its own, as a request's are.
    let mut line = format!(
        "QUEUE {name}: {} messages, {} acknowledged, {} retried in {} ms",
        total,
        tally.acked,
        tally.retried,
        (js_sys::Date::now() - started) as u64
    );
    for l in tally.notes.iter().filter(|l| !is_audit_line(l)) {
        line.push_str(" | ");
        line.push_str(l);
    }
    console_log!("{line}");
    for a in tally.notes.iter().filter(|l| is_audit_line(l)) {
        console_log!("{a}");
    }
    false
}
