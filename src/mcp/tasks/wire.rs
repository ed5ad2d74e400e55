//! The task messages of both eras as serde types. One [`Task`] serves both:
//! 2025-11-25 names its durations `ttl` and `pollInterval`, 2026-07-28
//! `ttlMs` and `pollIntervalMs` and adds `resultType` (and, on `tasks/get`
//! of a completed task, the inlined `result`); the fields an era does not
//! have are left out.

use super::super::model::Meta;
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize)]
pub(super) struct Task<'a> {
    #[serde(rename = "resultType", skip_serializing_if = "Option::is_none")]
    pub result_type: Option<&'static str>,
    #[serde(rename = "taskId")]
    pub task_id: &'a str,
    pub status: &'static str,
    #[serde(rename = "statusMessage")]
    pub status_message: &'a str,
    #[serde(rename = "createdAt")]
    pub created_at: &'a str,
    #[serde(rename = "lastUpdatedAt")]
    pub last_updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    #[serde(rename = "pollInterval", skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
    #[serde(rename = "ttlMs", skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    #[serde(rename = "pollIntervalMs", skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a RawValue>,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// 2026-07-28's empty acknowledgement (`tasks/cancel`, `tasks/update`).
#[derive(Serialize)]
pub(super) struct Ack {
    #[serde(rename = "resultType")]
    pub result_type: &'static str,
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}
