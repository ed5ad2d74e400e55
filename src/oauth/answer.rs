//! The answers the JSON endpoints share (discovery, `/token`, `/register`,
//! `/revoke`): an RFC 6749 §5.2 error, the 503 of a platform failure, and the
//! CORS preflight. They are read from any origin, so each allows every one.
//! (The pages answer in HTML: `page`.)

use crate::http::Response;

#[derive(serde::Serialize)]
struct OAuthError<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// An RFC 6749 §5.2 error answer (also for discovery and registration).
#[inline(never)]
pub(super) fn oauth_error(status: u16, code: &str, description: &str) -> Response {
    Response::json(
        status,
        &OAuthError {
            error: code,
            error_description: description,
        },
    )
    .header("cache-control", "no-store")
    .header("access-control-allow-origin", "*")
}

/// 503 for a platform failure (logged, never shown).
#[inline(never)]
pub(super) fn unavailable(e: String) -> Response {
    oauth_error(
        503,
        "temporarily_unavailable",
        "The sign-in service is unavailable right now; try again shortly.",
    )
    .header("retry-after", "5")
    .log(format!("oauth: {e}"))
}

/// The answer to a CORS preflight.
pub(super) fn preflight() -> Response {
    Response::new(204)
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-methods", "GET, POST, OPTIONS")
        .header(
            "access-control-allow-headers",
            "Authorization, Content-Type, MCP-Protocol-Version",
        )
        .header("access-control-max-age", "86400")
}
