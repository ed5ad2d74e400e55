//! OAuth clients: which one a `client_id` names ([`resolve`]) and how it
//! authenticates at the token and revocation endpoints ([`authenticate`]).
//! Neither kind of client needs a table:
//! - **Metadata-document clients** (CIMD): the `client_id` is an https URL
//!   whose JSON document names the client and its redirect URIs
//!   (`metadata`). It is fetched through the guard of `fetch` and kept in
//!   the isolate's memo for 5 minutes; a failure is kept for a minute, and
//!   an address may cause only so many fetches. They are public clients
//!   (`none`).
//! - **Dynamically registered clients** (`register`): the registration is
//!   carried in the signed `client_id` itself.
//!
//! A client is a JSON object: `id`, `name`, `redirects`, `auth` (`none`,
//! `client_secret_post` or `client_secret_basic`) and, for a document,
//! `host` (who published it).

use super::answer::oauth_error;
use super::fetch::public_host;
use super::limit::{client_ip, limited};
use super::metadata::document;
use super::params::Params;
use super::record;
use super::register::{registered, secret_matches};
use super::server::OAuth;
use super::step::{Io, Stop};
use crate::http::{Request, Response};
use crate::json::truncate;
use serde_json::Value;

/// Document fetches one address may cause, per window (seconds): the URL is
/// the caller's choice, so without a limit the worker would be a free relay.
const CIMD_FETCHES: (u64, u64) = (30, 600);

/// Finds the client a `client_id` names: `Ok(Err(message))` when it cannot
/// be used (shown to the person, or an `invalid_client` answer). A document
/// not remembered is fetched, counted against the caller's address.
pub(super) fn resolve(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    id: &str,
) -> Result<Result<Value, String>, Stop> {
    if let Some(found) = registered(o, id) {
        return Ok(found);
    }
    if !id.contains("://") {
        return Ok(Err("Unknown client_id: it is neither a client metadata document URL (https) nor one this server registered.".into()));
    }
    let why = match public_host(id) {
        Ok(host) => {
            let got = match io.remembered_document(id)? {
                Some(got) => got,
                None => {
                    let (limit, window) = CIMD_FETCHES;
                    let bucket = format!("doc:{}", client_ip(req));
                    if let Some(wait) = limited(o, io, &bucket, limit, window)? {
                        return Ok(Err(format!("Too many app metadata documents were fetched for your network. Try again in {wait} seconds.")));
                    }
                    io.fetched_document(id)?
                }
            };
            match got {
                Ok(body) => match document(id, host, body) {
                    Ok(c) => return Ok(Ok(c)),
                    Err(why) => why,
                },
                Err(why) => why.clone(),
            }
        }
        Err(why) => format!("the client_id URL is not allowed ({why})"),
    };
    Ok(Err(format!(
        "The app's metadata document at {} cannot be used: {why}.",
        truncate(id, 200)
    )))
}

/// Authenticates the client of a token or revocation request: HTTP Basic,
/// `client_secret` in the body, or none for public clients. A failure is
/// `401 invalid_client`, which makes Claude register again.
pub(super) fn authenticate(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    form: &Params,
) -> Result<Result<Value, Response>, Stop> {
    let basic = req.header("authorization").is_some();
    let invalid = |m: &str| {
        let r = oauth_error(401, "invalid_client", m);
        Ok(Err(if basic {
            r.header("www-authenticate", "Basic realm=\"scale-mcp\"")
        } else {
            r
        }))
    };
    let mut id = form.get("client_id").map(str::to_string);
    let mut secret = form.get("client_secret").map(str::to_string);
    if let Some(h) = req.header("authorization") {
        // RFC 6749 §2.3.1: both halves are form-encoded before Basic encoding.
        let pair = h
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, cred)| crate::codec::base64_decode(cred.trim()))
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|d| {
                let (i, s) = d.split_once(':')?;
                Some((crate::codec::form_decode(i)?, crate::codec::form_decode(s)?))
            });
        let Some((i, s)) = pair else {
            return invalid("The Authorization header is not valid HTTP Basic client credentials.");
        };
        if secret.is_some() || id.as_ref().is_some_and(|b| *b != i) {
            return invalid("Use one client authentication method, not two.");
        }
        id = Some(i);
        secret = Some(s);
    }
    let Some(id) = id else {
        return invalid("The request names no client (client_id).");
    };
    let client = match resolve(o, req, io, &id)? {
        Ok(c) => c,
        Err(m) => return invalid(&m),
    };
    match (record::text(&client, "auth"), secret) {
        ("none", None) => Ok(Ok(client)),
        ("none", Some(_)) => invalid("This client is public (none) and has no secret to send."),
        (_, None) => invalid("This client must authenticate with its client_secret."),
        (_, Some(given)) if secret_matches(o, &id, &given) => Ok(Ok(client)),
        (_, Some(_)) => invalid("The client secret is wrong."),
    }
}
