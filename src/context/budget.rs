//! What one HTTP request may spend upstream: its time and its subrequests,
//! shared by every tool call it makes.

use std::cell::Cell;

/// The whole time one HTTP request may spend on upstream calls, every tool
/// call of a JSON-RPC batch included: below the 60 s default timeout of the
/// MCP client libraries.
pub(crate) const REQUEST_BUDGET_MS: u64 = 50_000;

/// What one HTTP request may still spend upstream, shared by every tool call
/// it makes: a deadline, and a count of subrequests against the platform's
/// per-request limit (`SUBREQUEST_LIMIT`), so the worker stops with a clear
/// message before the platform refuses a fetch.
#[derive(Debug)]
pub(crate) struct Budget {
    deadline_ms: u64,
    limit: u32,
    used: Cell<u32>,
    /// The HTTP status of the latest answer from upstream, for audit lines.
    last_status: Cell<Option<u16>>,
}

impl Budget {
    pub(crate) fn new(now_ms: u64, total_ms: u64, subrequest_limit: u32) -> Self {
        Self {
            deadline_ms: now_ms + total_ms,
            limit: subrequest_limit,
            used: Cell::new(0),
            last_status: Cell::new(None),
        }
    }
    /// Subrequests counted so far.
    pub(crate) fn subrequests_used(&self) -> u32 {
        self.used.get()
    }
    pub(crate) fn note_status(&self, status: Option<u16>) {
        self.last_status.set(status);
    }
    pub(crate) fn last_status(&self) -> Option<u16> {
        self.last_status.get()
    }
    /// Milliseconds left before the deadline.
    pub(crate) fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms)
    }
    /// Counts one subrequest; `false` (and nothing counted) at the limit.
    pub(crate) fn take_subrequest(&self) -> bool {
        let used = self.used.get();
        if used >= self.limit {
            return false;
        }
        self.used.set(used + 1);
        true
    }
    pub(crate) fn subrequests_left(&self) -> u32 {
        self.limit - self.used.get()
    }
    /// Marks every subrequest used: the platform refused one, so the rest of
    /// the request sends nothing more.
    pub(crate) fn exhaust(&self) {
        self.used.set(self.limit);
    }
    pub(crate) fn subrequest_limit(&self) -> u32 {
        self.limit
    }
}
