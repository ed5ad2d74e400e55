//! Which URLs name this server's MCP endpoint (RFC 8707 resource
//! indicators, RFC 9728 metadata paths), and which token audience covers
//! which of them: a token for `/mcp` covers the narrowed paths under it,
//! never the other way round.

use crate::guarded_fetch::dot_segment;

/// `/mcp`, or a narrowed path under it: non-empty segments of URL characters,
/// no dot segments.
pub(super) fn mcp_path_ok(path: &str) -> bool {
    path == "/mcp"
        || path.strip_prefix("/mcp/").is_some_and(|rest| {
            path.len() <= 512
                && rest.split('/').all(|seg| {
                    !seg.is_empty()
                        && !dot_segment(seg)
                        && seg.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b)
                        })
                })
        })
}

/// The canonical form of a `resource` parameter (RFC 8707) naming this
/// server: its origin (case-insensitive), then nothing, `/` or an MCP path.
pub(super) fn parse_resource(issuer: &str, value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !format!("{scheme}://{authority}").eq_ignore_ascii_case(issuer) {
        return None;
    }
    match path {
        "" | "/" => Some(issuer.to_string()),
        p if mcp_path_ok(p) => Some(format!("{issuer}{p}")),
        _ => None,
    }
}

/// Whether a token bound to `audience` may be used at `resource`: the same
/// URL or a path under it, never above it.
pub(super) fn covers(audience: &str, resource: &str) -> bool {
    resource
        .strip_prefix(audience)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
