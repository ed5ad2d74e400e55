//! Dataset-scale jobs' platform (docs/jobs.md): the `JOBS` queue's producer
//! and the `JOBS_STATE` Durable Objects, one per job (`job_store`, which the
//! jobs worker defines), as the core's [`Jobs`].

use super::durable::call;
use super::js::wait;
use crate::io::{BoxFut, Jobs};
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Env, ObjectNamespace};

/// The queue's producer binding and the objects' binding.
const QUEUE: &str = "JOBS";
const OBJECTS: &str = "JOBS_STATE";

/// The jobs' platform, when both bindings are there (jobs are off
/// otherwise).
pub(super) fn client(env: &Env) -> Option<JobsClient> {
    let queue = Reflect::get(env, &JsValue::from_str(QUEUE))
        .ok()
        .filter(JsValue::is_object)?;
    let objects = env.durable_object(OBJECTS).ok()?;
    Some(JobsClient {
        objects,
        queue: queue.unchecked_into(),
    })
}

pub(super) struct JobsClient {
    objects: ObjectNamespace,
    queue: RawQueue,
}

#[wasm_bindgen]
extern "C" {
    /// A queue's producer binding, called directly: `worker`'s `Queue`
    /// serialises its messages and options through serde-wasm-bindgen,
    /// which this worker does not link.
    type RawQueue;
    #[wasm_bindgen(method, catch, js_name = sendBatch)]
    fn send_batch(this: &RawQueue, messages: &Array) -> Result<Promise, JsValue>;
}

/// The most messages one `sendBatch` takes.
const BATCH_MAX: usize = 100;

/// Sets `key` of a plain object (which cannot fail).
fn set(o: &Object, key: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(key), v);
}

impl Jobs for JobsClient {
    fn call<'a>(&'a self, job: &'a str, op: String) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move { call(&self.objects, job, "https://job-store/", &op).await })
    }

    fn send<'a>(&'a self, bodies: &'a [String], delay_s: u32) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            if bodies.len() > BATCH_MAX {
                return Err(format!("{} messages for one batch", bodies.len()));
            }
            if bodies.is_empty() {
                return Ok(());
            }
            // Each body goes as text, and the consumer reads it back as the
            // same string (see `queue`).
            let messages = Array::new();
            for b in bodies {
                let m = Object::new();
                set(&m, "body", &JsValue::from_str(b));
                set(&m, "contentType", &JsValue::from_str("text"));
                if delay_s > 0 {
                    set(&m, "delaySeconds", &delay_s.into());
                }
                messages.push(&m);
            }
            wait(self.queue.send_batch(&messages)).await.map(|_| ())
        })
    }
}
