//! The client proper: HTTP Basic auth with the caller's key, one time budget
//! per tool call, and retries with backoff for what may be repeated.

use super::call::Call;
use super::reply::{http_error, interpret, interpret_raw, ScaleError};
use crate::codec::base64;
use crate::config::{Config, Secret};
use crate::context::Budget;
use crate::io::{InResponse, OutRequest, SendError, Upstream};
use serde_json::Value;

/// The whole time one tool call may spend on Scale, retries and waits
/// included: below the 60 s default timeout of the MCP client libraries.
pub const CALL_BUDGET_MS: u64 = 50_000;
/// Attempts after the first for idempotent requests.
pub const MAX_RETRIES: u32 = 2;
/// First backoff; doubled for each further retry.
pub const BACKOFF_MS: u32 = 500;

/// How a request may be repeated after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat: reads, and writes that only set state (metadata,
    /// tags, finalize). Retried on 408, 429, 5xx and network errors, at most
    /// [`MAX_RETRIES`] times, within the call's budget.
    Idempotent,
    /// Creates and other writes whose repeat would do more: sent once.
    Never,
}

/// A Scale client bound to one tool call: its own time budget starts at
/// creation, and every attempt also draws on the HTTP request's [`Budget`]
/// (time and subrequests), which other calls of the same request share.
pub struct Scale<'a> {
    cfg: &'a Config,
    key: Option<&'a Secret>,
    up: &'a dyn Upstream,
    budget: &'a Budget,
    started: u64,
    /// Whether some attempt may have reached Scale without an answer.
    pub(crate) uncertain: std::cell::Cell<bool>,
}

impl<'a> Scale<'a> {
    /// A client that authenticates with `key` (the caller's: the operator's
    /// or their own; `None` answers every call with [`ScaleError::NoKey`])
    /// at the operator's API base, with the operator's timeouts and limits.
    pub fn new(
        cfg: &'a Config,
        key: Option<&'a Secret>,
        up: &'a dyn Upstream,
        budget: &'a Budget,
    ) -> Self {
        Self {
            cfg,
            key,
            up,
            budget,
            started: up.now_ms(),
            uncertain: std::cell::Cell::new(false),
        }
    }

    fn build(&self, call: &Call) -> Result<OutRequest, ScaleError> {
        let key = self.key.ok_or(ScaleError::NoKey)?;
        let mut headers = vec![
            (
                "authorization".to_string(),
                format!("Basic {}", base64(format!("{}:", key.expose()).as_bytes())),
            ),
            ("accept".to_string(), "application/json".to_string()),
            (
                "user-agent".to_string(),
                format!("scale-mcp-worker/{}", crate::VERSION),
            ),
        ];
        if call.body.is_some() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        Ok(OutRequest {
            method: call.method,
            url: call.url(&self.cfg.api_base),
            headers,
            body: call.body.as_ref().map(|b| b.to_string()),
            max_response_bytes: self.cfg.max_response_bytes,
            no_redirects: false,
        })
    }

    /// What is left of this call's time: its own budget, within the request's.
    fn remaining_ms(&self, now: u64) -> u64 {
        let own = CALL_BUDGET_MS.saturating_sub(now.saturating_sub(self.started));
        own.min(self.budget.remaining_ms(now))
    }

    /// Sends `call` under `retry`, returning Scale's JSON (`Value::Null` for a
    /// plain-text `OK`).
    pub async fn send(&self, call: &Call, retry: Retry) -> Result<Value, ScaleError> {
        let r = self.send_for_2xx(call, retry).await?;
        interpret(
            r.status,
            r.header("content-type"),
            &r.body,
            r.header("retry-after"),
        )
    }

    /// Like [`Scale::send`], but `quick` sees the text of a 2xx answer first;
    /// when it has read there all it needs (true), the answer is not parsed
    /// into a tree and comes back as `None`.
    pub async fn send_or(
        &self,
        call: &Call,
        retry: Retry,
        quick: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<Value>, ScaleError> {
        let r = self.send_for_2xx(call, retry).await?;
        if std::str::from_utf8(&r.body).is_ok_and(quick) {
            return Ok(None);
        }
        let ct = r.header("content-type");
        interpret(r.status, ct, &r.body, r.header("retry-after")).map(Some)
    }

    /// Like [`Scale::send`], but a 2xx answer comes back as its text, not
    /// parsed, so passthrough results are not rebuilt (`None` for a plain `OK`
    /// or empty answer). The caller checks the text is the JSON it needs.
    pub async fn send_raw(&self, call: &Call, retry: Retry) -> Result<Option<String>, ScaleError> {
        interpret_raw(self.send_for_2xx(call, retry).await?)
    }

    /// Sends `call` under `retry` until Scale answers 2xx, which comes back
    /// unread; any other outcome is the error of the last attempt. A 2xx is
    /// never retried, whatever its body, so reading it is left to the
    /// callers, and this loop is compiled once rather than once per reading.
    async fn send_for_2xx(&self, call: &Call, retry: Retry) -> Result<InResponse, ScaleError> {
        let req = self.build(call)?;
        let mut attempt = 0u32;
        loop {
            let now = self.up.now_ms();
            let remaining = self.remaining_ms(now);
            if remaining < 50 {
                return Err(ScaleError::Budget);
            }
            if !self.budget.take_subrequest() {
                return Err(ScaleError::SubrequestLimit(self.budget.subrequest_limit()));
            }
            let timeout = (self.cfg.timeout_ms as u64).min(remaining) as u32;
            let outcome = match self.up.send(&req, timeout).await {
                Ok(resp) => {
                    self.budget.note_status(Some(resp.status));
                    if (200..300).contains(&resp.status) {
                        Ok(resp)
                    } else {
                        Err(http_error(
                            resp.status,
                            &resp.body,
                            resp.header("retry-after"),
                        ))
                    }
                }
                Err(SendError::Timeout(ms)) => Err(ScaleError::Timeout(ms)),
                Err(SendError::Network(m)) => Err(ScaleError::Network(m)),
                Err(SendError::TooLarge(status)) => Err(ScaleError::TooLarge {
                    status,
                    limit: self.cfg.max_response_bytes,
                }),
                Err(SendError::SubrequestLimit) => {
                    // Our count missed some (other fetches of the request): trust the platform.
                    self.budget.exhaust();
                    Err(ScaleError::SubrequestLimit(self.budget.subrequest_limit()))
                }
            };
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if matches!(err, ScaleError::Timeout(_) | ScaleError::Network(_))
                || matches!(
                    err,
                    ScaleError::Http {
                        status: 500..=599,
                        ..
                    }
                )
            {
                self.uncertain.set(true);
            }
            let retryable = match (&err, retry) {
                (_, Retry::Never) => false,
                (ScaleError::Http { status, .. }, _) => {
                    *status == 429 || *status == 408 || (500..=599).contains(status)
                }
                (ScaleError::Timeout(_) | ScaleError::Network(_), _) => true,
                _ => false,
            };
            if !retryable || attempt >= MAX_RETRIES {
                return Err(err);
            }
            let backoff = BACKOFF_MS << attempt;
            let wait = match &err {
                ScaleError::Http {
                    retry_after: Some(s),
                    ..
                } => (*s as u64 * 1000).max(backoff as u64),
                _ => backoff as u64,
            };
            // Waiting only makes sense if an attempt still fits afterwards.
            if wait + 1000 > self.remaining_ms(self.up.now_ms()) {
                return Err(err);
            }
            self.up.sleep(wait as u32).await;
            attempt += 1;
        }
    }

    /// `create_task` with a `unique_id`: retried like a read; a 409 after an
    /// attempt whose fate is unknown means that attempt created the task, so
    /// the task is fetched by its `unique_id` (as Scale's Python client does).
    pub async fn create_unique(&self, call: &Call, unique_id: &str) -> Result<Value, ScaleError> {
        // Retried like a read: Scale refuses a second task with the same
        // unique_id, so a repeat cannot duplicate work.
        match self.send(call, Retry::Idempotent).await {
            Err(ScaleError::Http { status: 409, .. }) if self.uncertain.get() => self
                .tasks_by_unique_id(&[unique_id])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| ScaleError::Http {
                    status: 409,
                    message: format!(
                        "a task with unique_id `{unique_id}` exists but could not be fetched"
                    ),
                    retry_after: None,
                }),
            other => other,
        }
    }

    /// The tasks holding any of `ids` as their `unique_id` (at most 100 ids,
    /// each held by at most one task, so one page has them all):
    /// `GET /tasks?unique_id=…&unique_id=…&limit=100`, retried like a read.
    pub async fn tasks_by_unique_id(&self, ids: &[&str]) -> Result<Vec<Value>, ScaleError> {
        let mut find = Call::get().lit("tasks");
        for id in ids {
            find = find.query("unique_id", *id);
        }
        let limit = if ids.len() == 1 { "1" } else { "100" };
        let mut found = self
            .send(&find.query("limit", limit), Retry::Idempotent)
            .await?;
        Ok(match found.get_mut("docs").map(Value::take) {
            Some(Value::Array(d)) => d,
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
