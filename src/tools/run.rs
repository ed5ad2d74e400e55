//! Sending a tool's Scale requests: one [`Session`] per tool call (the Scale
//! client with the caller's key and the call's budget, plus the context its
//! errors are reported in), single requests shaped into objects, and ordered multi-step writes
//! that report which steps were applied.

use super::error::{error_for, StatusHints, ToolError};
use super::kernel::{Out, ToolResult};
use crate::context::Ctx;
use crate::io::Method;
use crate::json::object;
use crate::scale::{not_json, Call, Retry, Scale, ScaleError};
use serde_json::value::RawValue;
use serde_json::Value;

/// The Scale client of one tool call.
pub struct Session<'a> {
    pub sc: Scale<'a>,
    pub(crate) cx: &'a Ctx,
}

impl<'a> Session<'a> {
    pub fn new(cx: &'a Ctx) -> Self {
        Self {
            sc: Scale::new(
                &cx.config,
                cx.identity().scale_key(),
                cx.upstream(),
                &cx.budget,
            ),
            cx,
        }
    }

    /// Turns a failure of `call` into the tool error an agent sees.
    pub fn error(&self, call: &Call, e: ScaleError, hints: StatusHints) -> ToolError {
        let key = self.cx.identity().scale_key().map(|k| k.expose());
        // A timeout, a broken connection or a 5xx leave the outcome unknown.
        let unknown = matches!(
            e,
            ScaleError::Timeout(_)
                | ScaleError::Network(_)
                | ScaleError::Http {
                    status: 500..=599,
                    ..
                }
        );
        let mut err = error_for(&call.describe(), &self.cx.config.api_host, e, key, hints);
        if unknown {
            err.message.push_str(if call.method == Method::Get {
                " This was a read, so it is safe to repeat."
            } else {
                // Writes are not retried blindly, so the agent must look first.
                " A write may still have been applied; check (e.g. with a get or list tool) before repeating it."
            });
        }
        err
    }

    /// Sends `call`; Scale's JSON (`Value::Null` for a plain `OK`) or the tool error.
    pub async fn send(
        &self,
        call: &Call,
        retry: Retry,
        hints: StatusHints<'_>,
    ) -> Result<Value, ToolError> {
        self.sc
            .send(call, retry)
            .await
            .map_err(|e| self.error(call, e, hints))
    }

    /// Sends `call` and keeps a 2xx answer as text (`None` for a plain `OK`).
    pub async fn send_raw(
        &self,
        call: &Call,
        retry: Retry,
        hints: StatusHints<'_>,
    ) -> Result<Option<String>, ToolError> {
        self.sc
            .send_raw(call, retry)
            .await
            .map_err(|e| self.error(call, e, hints))
    }

    /// The error for a 2xx whose text is not the JSON `call` should answer.
    pub fn not_json(&self, call: &Call, text: &str) -> ToolError {
        self.error(call, not_json(text), &[])
    }
}

/// Runs one Scale call and shapes a 2xx into an object.
pub async fn run_one(cx: &Ctx, call: Call, retry: Retry, hints: StatusHints<'_>) -> ToolResult {
    let s = Session::new(cx);
    let Some(text) = s.send_raw(&call, retry, hints).await? else {
        return Ok(object_or_ok(Value::Null).into());
    };
    // An object passes through as Scale sent it: checked, not parsed into a
    // tree or rebuilt (owning the checked text is a copy, not a second parse).
    if text.trim_start().starts_with('{') {
        if let Ok(raw) = serde_json::from_str::<&RawValue>(&text) {
            return Ok(Out::Raw(raw.to_owned()));
        }
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(object_or_ok(v).into()),
        Err(_) => Err(s.not_json(&call, &text)),
    }
}

/// A step of a multi-request tool: its name (as errors report it), the
/// call, how it may be retried and the tool's advice for some statuses.
pub struct Step {
    pub name: &'static str,
    pub call: Call,
    pub retry: Retry,
    pub hints: StatusHints<'static>,
}

/// Sends `steps` in order and stops at the first failure (see [`step_error`]).
/// Returns each step's answer.
pub async fn run_steps(
    s: &Session<'_>,
    steps: Vec<Step>,
) -> Result<Vec<(&'static str, Value)>, ToolError> {
    let mut done: Vec<(&'static str, Value)> = Vec::new();
    for step in steps {
        match s.sc.send(&step.call, step.retry).await {
            Ok(v) => done.push((step.name, v)),
            Err(e) => {
                let applied = done.iter().map(|(n, _)| n.to_string()).collect();
                return Err(step_error(s, &step, e, applied));
            }
        }
    }
    Ok(done)
}

/// The error of a failed step: which step, Scale's error, and the steps
/// applied before it (writes are not rolled back, so the agent must know).
pub fn step_error(s: &Session<'_>, step: &Step, e: ScaleError, applied: Vec<String>) -> ToolError {
    let mut err = s.error(&step.call, e, step.hints);
    err.message = format!("Step `{}` failed. {}", step.name, err.message);
    err.with_applied(applied)
}

/// The `docs` array of a Scale list answer (empty when absent).
pub fn docs(mut v: Value) -> Vec<Value> {
    match v.get_mut("docs").map(Value::take) {
        Some(Value::Array(d)) => d,
        _ => Vec::new(),
    }
}

/// Scale's JSON for a 2xx that must be an object.
pub fn object_or_ok(v: Value) -> Value {
    match v {
        Value::Object(_) => v,
        Value::Null => object(vec![("ok", Value::Bool(true))]),
        other => object(vec![("result", other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::{services, FakeUpstream};
    use crate::scale::testing::{config, KEY};
    use serde_json::json;

    #[test]
    fn tool_error_scrubs_with_the_configured_key() {
        let cx = Ctx::full_access(config(), services(&FakeUpstream::new(), None));
        let call = Call::get().lit("task").seg("task_id", "t1").unwrap();
        let e = Session::new(&cx).error(
            &call,
            ScaleError::Http {
                status: 401,
                message: format!("key {KEY} is invalid"),
                retry_after: None,
            },
            &[],
        );
        assert_eq!(e.status, Some(401));
        assert!(
            e.message.starts_with(
                "Scale returned 401 Unauthorized for GET /task/t1: key [redacted] is invalid"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn docs_and_object_or_ok() {
        assert_eq!(docs(json!({"docs": [1, 2]})), vec![json!(1), json!(2)]);
        assert!(docs(json!({"docs": "x"})).is_empty());
        assert!(docs(Value::Null).is_empty());
        assert_eq!(object_or_ok(json!({"a": 1})), json!({"a": 1}));
        assert_eq!(object_or_ok(Value::Null), json!({"ok": true}));
        assert_eq!(object_or_ok(json!([1])), json!({"result": [1]}));
        assert_eq!(object_or_ok(json!("OK")), json!({"result": "OK"}));
    }
}
