//! Discovery: the metadata a client reads to find and use this server
//! (RFC 9728 for `/mcp` and each narrowed path under it, RFC 8414 for the
//! authorization server), and the `WWW-Authenticate` challenge of an `/mcp`
//! 401 that points to it. Public, cacheable, readable from any origin.

use super::answer::{oauth_error, preflight};
use super::issued::ALL_SCOPES;
use super::resource::mcp_path_ok;
use crate::http::Response;

/// The answer to a `/.well-known/` path, for `method` (upper case).
pub(super) fn serve(method: &str, path: &str, iss: &str) -> Response {
    const PRM: &str = "/.well-known/oauth-protected-resource";
    if path == "/.well-known/oauth-authorization-server" {
        const DOC: &str = r#"{"issuer":"@","authorization_endpoint":"@/authorize","token_endpoint":"@/token","registration_endpoint":"@/register","revocation_endpoint":"@/revoke","scopes_supported":["scale:read","scale:write","scale:team"],"response_types_supported":["code"],"response_modes_supported":["query"],"grant_types_supported":["authorization_code","refresh_token"],"token_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"revocation_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"code_challenge_methods_supported":["S256"],"client_id_metadata_document_supported":true,"authorization_response_iss_parameter_supported":true,"service_documentation":"@/oauth/grants"}"#;
        // The issuer is a checked origin: no character in it needs escaping.
        return document(method, DOC.replace('@', iss));
    }
    if let Some(rest) = path.strip_prefix(PRM) {
        return if rest.is_empty() || mcp_path_ok(rest) {
            document(
                method,
                format!(
                    r#"{{"resource":"{iss}{rest}","authorization_servers":["{iss}"],"scopes_supported":["scale:read","scale:write","scale:team"],"bearer_methods_supported":["header"],"resource_name":"Scale AI (MCP)"}}"#
                ),
            )
        } else {
            oauth_error(404, "not_found", "No MCP endpoint is served at this path; its metadata is at /.well-known/oauth-protected-resource/mcp.")
        };
    }
    oauth_error(404, "not_found", "The authorization server's metadata is at /.well-known/oauth-authorization-server (its issuer has no path).")
}

/// A discovery document: public, cacheable, readable from any origin.
fn document(method: &str, doc: String) -> Response {
    match method {
        "GET" | "HEAD" => Response::new(200)
            .header("content-type", "application/json")
            .header("cache-control", "public, max-age=300")
            .header("access-control-allow-origin", "*")
            .body(doc.into_bytes()),
        "OPTIONS" => preflight(),
        _ => oauth_error(405, "invalid_request", "Use GET.").header("allow", "GET, HEAD, OPTIONS"),
    }
}

/// The `WWW-Authenticate` value of a 401 for `resource` (`{issuer}{path}`):
/// where its metadata is (RFC 9728 §5.1, path inserted), every scope (some
/// clients ask for what the 401 names and never step up later), and an
/// `invalid_token` error with its reason when a token was refused.
pub(crate) fn challenge(issuer: &str, resource: &str, refused: Option<&str>) -> String {
    let path = resource.strip_prefix(issuer).unwrap_or("");
    let mut v = format!(
        "Bearer realm=\"scale-mcp\", resource_metadata=\"{issuer}/.well-known/oauth-protected-resource{path}\", scope=\"{ALL_SCOPES}\""
    );
    if let Some(why) = refused {
        // The reasons are the access check's own texts (`access`): no quote or
        // backslash.
        v = format!("{v}, error=\"invalid_token\", error_description=\"{why}\"");
    }
    v
}
