//! Where serde_json's hot generic code is compiled, so the worker can be
//! compiled for size without making its JSON paths slower.
//!
//! The worker crate is built at `opt-level = "z"` (smallest code), this
//! crate and serde_json at `"s"` (see the profiles in the root
//! `Cargo.toml`). A generic function is compiled in the crate that first
//! instantiates it, and at opt-levels `s` and `z` rustc shares generic
//! instances: a crate that needs an instance an upstream crate already has
//! links to that one instead of compiling its own. [`anchor`] instantiates
//! the serde_json code that dominates the worker's CPU profile (escaping
//! strings into a `Vec<u8>`, skipping values and strings while scanning
//! Scale's answers, raw values, `Value`), so those instances are compiled
//! here, at `s`, and the worker's own uses of them link to these.
//!
//! Measured (`bench/profile.mjs --cpu-only`, alternating builds): the worker
//! all at `s` against `z` with this crate: 23 KB less compressed wasm;
//! `list_tasks` of 100 tasks about +6% CPU per request, `get_task` about
//! +5%, `tools/list` and webhook deliveries within noise. Without this
//! crate, `z` alone cost +45% on `list_tasks`.

use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::Value;

/// Instantiates the hot serde_json code for the reader and writer types the
/// worker uses (`&str`, `&[u8]`, `&mut Vec<u8>`). The worker never calls it:
/// it exists for the instances it creates. Returns how many of its parses
/// and writes succeeded, so none of them is optimised away.
pub fn anchor(text: &str, bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let mut n = 0;
    n += serde_json::from_str::<IgnoredAny>(text).is_ok() as usize;
    n += serde_json::from_slice::<IgnoredAny>(bytes).is_ok() as usize;
    n += serde_json::from_str::<Box<RawValue>>(text).is_ok() as usize;
    n += serde_json::from_str::<Value>(text).is_ok() as usize;
    n += serde_json::from_slice::<Value>(bytes).is_ok() as usize;
    n += serde_json::to_writer(&mut *out, text).is_ok() as usize;
    if let Ok(r) = serde_json::from_str::<&RawValue>(text) {
        n += serde_json::to_writer(&mut *out, r).is_ok() as usize;
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        n += serde_json::to_writer(&mut *out, &v).is_ok() as usize;
    }
    n
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_path_runs_on_valid_json() {
        let mut out = Vec::new();
        assert_eq!(
            super::anchor("\"a\\n\"", b"[1, {\"x\": null}]", &mut out),
            8
        );
        assert_eq!(out, b"\"\\\"a\\\\n\\\"\"\"a\\n\"\"a\\n\"");
    }
}
