//! The argument formats a JSON Schema does not check, checked in code: ISO
//! 8601 dates (and the list filters sent from them) and Scale task types.
//! The schemas describe them to clients (a task type's `pattern`, a date's
//! description); the validator leaves them to these checks.

use super::error::ToolError;
use crate::scale::Call;

/// An ISO 8601 date or date-time, as Scale's time filters take.
pub fn check_iso_date(name: &str, v: &str) -> Result<(), ToolError> {
    let b = v.as_bytes();
    let date_ok = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    // Only looked at when the date part is there: shorter values must not index past the end.
    let rest_ok = date_ok
        && (b.len() == 10
            || (matches!(b[10], b'T' | b't' | b' ')
                && b.len() > 11
                && b[11..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b":.+-".contains(c))));
    if date_ok && rest_ok && b.len() <= 40 {
        Ok(())
    } else {
        Err(ToolError::invalid(format!("`{name}` must be an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z")))
    }
}

/// A Scale task type: one path segment of lower-case letters and digits (the
/// schema's `pattern` says the same to clients; the validator leaves
/// patterns to this check).
pub fn task_type(name: &str, v: &str) -> Result<(), ToolError> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(ToolError::invalid(format!(
            "`{name}` must be a Scale task type of lower-case letters and digits, e.g. imageannotation, categorization, textcollection"
        )));
    }
    Ok(())
}

/// Adds the time filters that are given, each checked by [`check_iso_date`]
/// and sent under its wire name: `(argument, wire name, value)`.
pub(crate) fn query_dates<'a>(
    mut call: Call,
    filters: impl IntoIterator<Item = (&'a str, &'a str, Option<String>)>,
) -> Result<Call, ToolError> {
    for (arg, wire, v) in filters {
        if let Some(v) = v {
            check_iso_date(arg, &v)?;
            call = call.query(wire, v);
        }
    }
    Ok(call)
}
