//! What every create shares, whichever area's tool makes it: the task
//! creates' `type` argument, the request body built from declared fields
//! with `params` merged in, the rules every task create follows, and the
//! caller's default callback for a create that names none.

use super::args::{task_type_keys, Decl};
use super::error::ToolError;
use super::guard::check_callbacks;
use crate::context::Ctx;
use serde_json::{Map, Value};

pub(crate) const TASK_TYPES_HINT: &str = "Common types: imageannotation, categorization, comparison, textcollection, documenttranscription, \
segmentannotation, polygonannotation, lineannotation, pointannotation, cuboidannotation, videoannotation, videoplaybackannotation, \
lidarannotation, lidarsegmentation, namedentityrecognition, transcription, chat, multichat.";

/// The `type` argument of the task creates.
pub(crate) const TYPE_DECL: Decl = Decl::Fn(|| {
    task_type_keys(&format!(
        "The Scale task type (path segment). {TASK_TYPES_HINT}"
    ))
});

/// The body of a create or update: the declared fields that were given,
/// with `params` merged at the top level. A key given both ways (or as the
/// path argument `path_arg`) is refused rather than silently picked.
pub(crate) fn merged_body(
    mut given: Map<String, Value>,
    params: Option<Map<String, Value>>,
    path_arg: Option<&str>,
) -> Result<Map<String, Value>, ToolError> {
    for (k, v) in params.into_iter().flatten() {
        if given.contains_key(&k) || path_arg == Some(k.as_str()) {
            return Err(ToolError::invalid(format!(
                "`params.{k}` duplicates the `{k}` argument; give it only once"
            )));
        }
        given.insert(k, v);
    }
    Ok(given)
}

/// The rules every task create follows, `create_task` and each item of
/// `create_tasks` alike, so a rule added here holds for both: the callback
/// destination policy on the body as it will be sent, and the account's
/// default callback when the task names no `callback_url`. (Billed work
/// on a live key and the rate limit apply per call, before any item.)
pub(crate) fn task_create_rules(cx: &Ctx, body: &mut Map<String, Value>) -> Result<(), ToolError> {
    check_callbacks(cx, body)?;
    default_callback(cx, body, "callback_url");
    Ok(())
}

/// Puts the caller's default callback (DEFAULT_CALLBACK_URL, or a tenant's
/// webhook) into a create's body under `field` (`callback_url` for tasks,
/// `callback` for batches) when the body names none.
pub(crate) fn default_callback(cx: &Ctx, body: &mut Map<String, Value>, field: &str) {
    if !body.contains_key(field) {
        if let Some(u) = cx.identity().default_callback_url() {
            body.insert(field.into(), Value::from(u));
        }
    }
}
