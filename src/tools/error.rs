//! Tool errors: what an agent reads when a call fails, with Scale's status
//! and message, advice for the status, and, for multi-step tools, which steps
//! were applied. The Scale key is scrubbed from every text that could echo it.

use crate::auth::Refusal;
use crate::codec::base64;
use crate::http::reason_phrase;
use crate::json::truncate;
use crate::scale::{InvalidSegment, ScaleError, CALL_BUDGET_MS};
use std::fmt;

/// A failed tool call, reported to the agent as a result with `isError`.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolError {
    pub kind: ErrorKind,
    /// Scale's HTTP status, when Scale answered.
    pub status: Option<u16>,
    pub message: String,
    /// For multi-step tools: the steps that were applied before the failure.
    pub applied: Option<Vec<String>>,
    /// For a refusal by the connection's view: which rule refused (the OAuth
    /// work answers a signed-in user's missing scope with the 403 of
    /// docs/permissions.md §2). Boxed: every tool result carries the field, few
    /// carry a refusal.
    pub refusal: Option<Box<Refusal>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArguments,
    /// Refused before anything was sent: the connection's view, a guard on
    /// writes, the rate limit, or an object outside the connection's projects.
    Refused,
    Scale,
    /// Scale did not answer in time, or the call's time budget ran out.
    Timeout,
    Config,
    Store,
}

impl ToolError {
    fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            applied: None,
            refusal: None,
        }
    }
    pub fn refused(message: impl Into<String>, refusal: Option<Refusal>) -> Self {
        Self {
            refusal: refusal.map(Box::new),
            ..Self::of(ErrorKind::Refused, message)
        }
    }
    /// The rate limiter's refusal: retried after its period (its status is
    /// 429, so that callers tell it from every other refusal).
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self {
            status: Some(429),
            ..Self::of(ErrorKind::Refused, message)
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::of(ErrorKind::InvalidArguments, message)
    }
    pub fn scale(status: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            status,
            ..Self::of(ErrorKind::Scale, message)
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Config, message)
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Store, message)
    }
    pub fn with_applied(mut self, steps: Vec<String>) -> Self {
        self.applied = Some(steps);
        self
    }
    /// The text the agent reads, for a call of `tool`.
    pub fn text(&self, tool: &str) -> String {
        let mut t = match self.kind {
            ErrorKind::InvalidArguments => format!(
                "Invalid arguments for {tool}: {}. No request was sent to Scale.",
                self.message
            ),
            _ => self.message.clone(),
        };
        if let Some(steps) = &self.applied {
            if steps.is_empty() {
                t.push_str("\nNo step was applied.");
            } else {
                t.push_str(&format!(
                    "\nSteps applied before the failure: {}.",
                    steps.join(", ")
                ));
            }
        }
        t
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<InvalidSegment> for ToolError {
    fn from(e: InvalidSegment) -> Self {
        ToolError::invalid(e.0)
    }
}

/// What a tool knows about a status of one of its calls, in place of the
/// general [`hint`] (e.g. "only pending tasks can be canceled" for a 400).
pub type StatusHints<'a> = &'a [(u16, &'a str)];

/// What an agent should do about a Scale status.
pub fn hint(status: u16) -> &'static str {
    match status {
        400 => "Scale rejected the request's parameters; fix the arguments named in the message.",
        401 => "Scale did not accept the API key: check the worker's SCALE_API_KEY secret (live_... or test_...).",
        402 => "This task type is not enabled for the Scale account; ask Scale to enable it.",
        403 => "The API key's account may not do this.",
        404 => "Nothing with that id or name exists for this API key (live and test keys see separate data).",
        409 => "A resource with that unique_id or name already exists.",
        429 => "Scale is rate limiting this account; wait before trying again.",
        500..=599 => "Scale had a problem on its side; try again later.",
        _ => "",
    }
}

/// What a platform's message about a failed connection means, in words a
/// user can act on. workerd reports a failed DNS lookup and a failed TLS
/// handshake only as "internal error; reference = …", and a refused
/// connection as "Network connection lost.".
pub fn network_cause(m: &str) -> String {
    let l = m.to_ascii_lowercase();
    let known = [
        (
            "internal error",
            "the DNS lookup or the TLS handshake failed",
        ),
        ("connection lost", "the connection was refused or dropped"),
        ("refused", "the connection was refused"),
        ("dns", "the host name did not resolve"),
        ("tls", "the TLS handshake failed"),
    ];
    match known.iter().find(|(k, _)| l.contains(k)) {
        Some((_, what)) => what.to_string(),
        None => truncate(m.trim(), 200),
    }
}

/// Builds the tool error for a failed request `what` (e.g. `GET /task/t1`)
/// to Scale at `host`; `key` is scrubbed from any text. A status in `hints`
/// gets that hint instead of the general one.
pub fn error_for(
    what: &str,
    host: &str,
    e: ScaleError,
    key: Option<&str>,
    hints: StatusHints,
) -> ToolError {
    let (status, msg) = match e {
        ScaleError::NoKey => {
            return ToolError::config("SCALE_API_KEY is not set, so no Scale request was sent. Set it with `wrangler secret put SCALE_API_KEY` (or in .dev.vars locally).")
        }
        ScaleError::Http { status, message, retry_after } => {
            let r = reason_phrase(status);
            let sep = if r.is_empty() { "" } else { " " };
            let mut m = format!("Scale returned {status}{sep}{r} for {what}: {message}");
            let h = hints
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(hint(status), |(_, h)| h);
            if !h.is_empty() {
                m.push_str("\nHint: ");
                m.push_str(h);
            }
            if let Some(s) = retry_after {
                m.push_str(&format!(" Scale asked to retry after {s} s."));
            }
            (Some(status), m)
        }
        ScaleError::Timeout(ms) => {
            let m = format!("Scale at {host} did not answer {what} within {ms} ms, so the call was aborted (the timeout is the SCALE_TIMEOUT_MS var).");
            return ToolError::of(ErrorKind::Timeout, scrub(&m, key));
        }
        ScaleError::Network(m) => (None, format!("Could not reach Scale at {host} for {what}: {}. Check SCALE_API_BASE.", network_cause(&m))),
        ScaleError::TooLarge { status, limit } => (Some(status), format!("Scale answered {what} with status {status}, but the answer is larger than {limit} bytes (SCALE_MAX_RESPONSE_BYTES) and was not read. Ask for less: a smaller `limit`, or `limited_response: true` where the tool has it.")),
        ScaleError::BadBody { status, detail } => (Some(status), format!("{detail} (for {what})")),
        ScaleError::Budget => {
            let m = format!("The time budget for this call ({} s) ran out before {what} could be sent.", CALL_BUDGET_MS / 1000);
            return ToolError::of(ErrorKind::Timeout, m);
        }
        ScaleError::SubrequestLimit(n) => (None, format!("This request has already made {n} requests to Scale, the most one Workers request may make (SUBREQUEST_LIMIT), so {what} was not sent. Call the tool again in a new request to continue.")),
    };
    ToolError::scale(status, scrub(&msg, key))
}

/// Removes the API key and its Basic-auth encoding from a text.
pub fn scrub(text: &str, key: Option<&str>) -> String {
    let Some(k) = key.filter(|k| !k.is_empty()) else {
        return text.to_string();
    };
    text.replace(k, "[redacted]")
        .replace(&base64(format!("{k}:").as_bytes()), "[redacted]")
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
