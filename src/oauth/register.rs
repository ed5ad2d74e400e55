//! Dynamically registered clients (RFC 7591, kept for compatibility): `POST
//! /register` stores nothing. The registration (name, redirect URIs, auth
//! method, expiry; nothing secret) is carried in the client id itself,
//! signed with a server key so that it cannot be changed ([`registered`]
//! reads it back); the secret, when there is one, is a keyed hash of the id
//! ([`secret_matches`]).

use super::answer::oauth_error;
use super::limit::{client_ip, limited};
use super::metadata::display_name;
use super::record;
use super::redirect::redirect_uris;
use super::server::OAuth;
use super::step::{Io, Stop};
use crate::http::{Request, Response};
use serde_json::Value;

const DCR: &str = "smcp_c_";
const DCR_SECRET: &str = "smcp_cs_";
/// How long a registration lasts, in seconds.
pub(super) const CLIENT_TTL: u64 = 90 * 24 * 3600;
const AUTH_METHODS: [&str; 3] = ["none", "client_secret_post", "client_secret_basic"];

/// The client a registered client's `id` names, or why it cannot be used;
/// `None` when `id` is not one this server registers.
pub(super) fn registered(o: &OAuth<'_>, id: &str) -> Option<Result<Value, String>> {
    let signed = id.strip_prefix(DCR)?;
    Some(match o.verify("dcr", signed) {
        Some(mut r) => {
            r["id"] = Value::from(id);
            // Ids signed before format characters were stripped carry names with them.
            r["name"] = display_name(r["name"].as_str(), "Unnamed app").into();
            Ok(r)
        }
        None => Err("This client_id was not issued by this server, has expired, or was signed with a key that was rotated out; the app must register again.".into()),
    })
}

/// Whether `given` is the secret of the registered client `id`.
pub(super) fn secret_matches(o: &OAuth<'_>, id: &str, given: &str) -> bool {
    given
        .strip_prefix(DCR_SECRET)
        .is_some_and(|m| o.mac_ok("dcr-secret", id.as_bytes(), m))
}

#[derive(serde::Serialize)]
struct Registered<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_id_issued_at: u64,
    client_secret_expires_at: u64,
    client_name: &'a str,
    redirect_uris: &'a Value,
    grant_types: [&'static str; 2],
    response_types: [&'static str; 1],
    token_endpoint_auth_method: &'a str,
}

/// `POST /register` (RFC 7591): rate limited per address and overall,
/// expires after [`CLIENT_TTL`], nothing stored.
pub(super) fn register(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let invalid = |m: &str| Ok(oauth_error(400, "invalid_client_metadata", m));
    let json = req
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return invalid("Send the registration as application/json.");
    }
    let Some(body) = io.body()? else {
        return invalid("The registration is larger than 64 KiB or could not be read.");
    };
    let v = match crate::json::parse_strict(body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return invalid("The registration must be a JSON object."),
        Err(e) => return invalid(&format!("The registration is not valid JSON: {e}")),
    };
    let redirects = match redirect_uris(&v) {
        Ok(r) => r,
        Err(e) => {
            return Ok(oauth_error(
                400,
                "invalid_redirect_uri",
                &format!("The registration cannot be accepted: {e}."),
            ))
        }
    };
    let auth = match &v["token_endpoint_auth_method"] {
        Value::Null => "client_secret_basic",
        Value::String(m) if AUTH_METHODS.contains(&m.as_str()) => m.as_str(),
        _ => return invalid("token_endpoint_auth_method must be one of none, client_secret_post and client_secret_basic."),
    };
    if !v["client_name"].is_null() && !v["client_name"].is_string() {
        return invalid("client_name must be a string.");
    }
    let name = display_name(v["client_name"].as_str(), "Unnamed app");
    // The address's own bucket first: a refused registration must not
    // count against the global one, or one network could drain it.
    let mut wait = limited(o, io, &format!("dcr:{}", client_ip(req)), 30, 3600)?;
    if wait.is_none() {
        wait = limited(o, io, "dcr:*", 2000, 3600)?;
    }
    if let Some(wait) = wait {
        return Ok(oauth_error(
            429,
            "invalid_request",
            &format!("Too many registrations; try again in {wait} seconds."),
        )
        .header("retry-after", &wait.to_string()));
    }
    let now = o.now();
    // A random nonce: two registrations of the same metadata are two
    // clients, with two secrets.
    let nonce = io.random(12)?;
    let mut reg = record::new(
        &[("name", &name), ("auth", auth), ("n", &nonce)],
        &[("exp", now + CLIENT_TTL)],
    );
    reg["redirects"] = redirects.clone();
    let client_id = format!("{DCR}{}", o.sign("dcr", &reg));
    let client_secret = (auth != "none")
        .then(|| format!("{DCR_SECRET}{}", o.mac("dcr-secret", client_id.as_bytes())));
    let body = Registered {
        client_id: &client_id,
        client_secret_expires_at: if client_secret.is_some() {
            now + CLIENT_TTL
        } else {
            0
        },
        client_secret,
        client_id_issued_at: now,
        client_name: &name,
        redirect_uris: &redirects,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: auth,
    };
    Ok(Response::json(201, &body)
        .header("cache-control", "no-store")
        .header("access-control-allow-origin", "*")
        .log(format!("oauth: registered a client ({auth})")))
}
