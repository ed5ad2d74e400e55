//! `/token` (authorization code and refresh token grants) and `/revoke`
//! (RFC 7009).
//!
//! A code is looked up, checked (client, redirect URI, PKCE, audience) and
//! then spent in one store call whose precondition is that it is unspent,
//! together with writing the grant and the first access token. A refresh
//! token carries its grant id; the grant row holds the hashes of the current
//! and previous refresh tokens (the previous one stays usable until the
//! current one is first used, since some clients lose a rotated token) and
//! of the retired ones. Rotation writes the grant only if it is unchanged
//! since it was read, together with its answer kept for 30 s (sealed under
//! a key derived from the refresh token used): the same token presented
//! again in that time, by a client racing itself, gets the same answer.
//! Nothing is issued on any failure; a spent code or a retired refresh token
//! presented again revokes its grant. Tokens end in a check under the server
//! key (see `OAuth::shape`), so junk is refused before any store read.

use super::access::{drop_grant, operator_scopes, LOWERED, REMOVED};
use super::answer::oauth_error;
use super::client;
use super::issued::{hash, old_access, old_refresh, shaped, ACCESS_CHECK, REFRESH_CHECK};
use super::issued::{ACCESS, ACCESS_TTL, CODE, CODE_TTL, REFRESH, REFRESH_TTL};
use super::params::{read_form, Params};
use super::record;
use super::resource::{covers, parse_resource};
use super::seal::{unwrap_key, wrap_key};
use super::server::{OAuth, Shape};
use super::step::{Io, Stop};
use crate::http::{Request, Response};
use crate::io::state::{cas, op};
use serde_json::Value;

/// Sets every field of `fields` (an object) on `target`.
fn merge(target: &mut Value, fields: Value) {
    if let (Value::Object(t), Value::Object(f)) = (target, fields) {
        t.extend(f);
    }
}

/// How many retired refresh tokens a grant remembers to detect reuse.
const RETIRED_KEPT: usize = 8;

/// How long after a refresh token's first use presenting it again gets the
/// same answer (seconds).
const REPLAY_TTL: u64 = 30;

/// The key a refresh's answer is sealed under for its replay: derived from
/// the refresh token presented, so the store alone does not open it.
fn replay_key(refresh: &str) -> [u8; 32] {
    crate::codec::hmac_sha256(refresh.as_bytes(), b"scale-mcp refresh answer")
}

/// A token answer with `body` (JSON).
#[inline(never)]
fn issued(body: Vec<u8>) -> Response {
    Response::new(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("access-control-allow-origin", "*")
        .body(body)
}

#[inline(never)]
fn invalid_grant(why: &str) -> Result<Response, Stop> {
    Ok(oauth_error(400, "invalid_grant", why))
}

/// The form and the authenticated client of a token or revocation request.
fn form_and_client(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
) -> Result<Result<(Params, Value), Response>, Stop> {
    let p = match read_form(req, io)? {
        Ok(p) => p,
        Err(m) => return Ok(Err(oauth_error(400, "invalid_request", &m))),
    };
    Ok(client::authenticate(o, req, io, &p)?.map(|c| (p, c)))
}

/// `POST /token`.
pub(super) fn token(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let (p, client) = match form_and_client(o, req, io)? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let out = match p.get("grant_type") {
        Some("authorization_code") => code_grant(o, io, &p, &client)?,
        Some("refresh_token") => refresh_grant(o, io, &p, &client)?,
        None => oauth_error(400, "invalid_request", "grant_type is missing."),
        Some(_) => oauth_error(
            400,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token are supported.",
        ),
    };
    Ok(out.header("pragma", "no-cache"))
}

/// The audience of new access tokens: the grant's resource, or a narrower
/// one the client asks for (RFC 8707).
fn audience(o: &OAuth<'_>, p: &Params, grant: &Value) -> Option<String> {
    let granted = record::text(grant, "resource");
    match p.get("resource") {
        None => Some(granted.to_string()),
        Some(r) => parse_resource(&o.issuer, r).filter(|r| covers(granted, r)),
    }
}

const BAD_TARGET: &str = "resource must be the grant's resource or a path under it.";

/// New tokens for `grant` (updated in place with the new refresh token):
/// the store operation that writes the access token's record, and the
/// answer to send. `key` is the grant key of an own-key grant, wrapped for
/// each new token.
fn mint(
    o: &OAuth<'_>,
    io: &Io,
    grant: &mut Value,
    key: Option<&[u8; 32]>,
    aud: String,
    scope: Option<&str>,
) -> Result<(Value, Response), Stop> {
    let now = o.now();
    let id = record::text(grant, "id").to_string();
    let access = o.tag(ACCESS_CHECK, format!("{ACCESS}{}", io.random(32)?));
    let refresh = o.tag(REFRESH_CHECK, format!("{REFRESH}{id}.{}", io.random(32)?));
    let (mut wa, mut wr) = (String::new(), String::new());
    if let Some(k) = key {
        wa = wrap_key(io, &access, k)?;
        wr = wrap_key(io, &refresh, k)?;
    }
    let expires = now + ACCESS_TTL;
    let grant_fields = record::new(
        &[("cur", &hash(&refresh)), ("wcur", &wr)],
        &[("refreshed", now), ("expires", now + REFRESH_TTL)],
    );
    merge(grant, grant_fields);
    // The access token's record: what the hot path needs of the grant.
    let mut rec = record::new(
        &[("resource", &aud), ("wrapped", &wa)],
        &[("expires", expires)],
    );
    for f in [
        "id", "client", "name", "scope", "tenant", "label", "op", "billed", "sealed",
    ] {
        rec[f] = grant[f].clone();
    }
    if let Some(sc) = scope {
        rec["scope"] = Value::from(sc);
    }
    let put = op(
        "put",
        &format!("a:{}", hash(&access)),
        &id,
        &rec.to_string(),
        expires,
    );
    // Written out (the strings escaped as JSON): a serde type of its own
    // for five fields measured 0.11 KiB more of the compressed upload.
    let body = format!(
        r#"{{"access_token":{},"token_type":"Bearer","expires_in":{ACCESS_TTL},"refresh_token":{},"scope":{}}}"#,
        Value::from(access.as_str()),
        Value::from(refresh.as_str()),
        Value::from(record::text(&rec, "scope")),
    );
    let answer = issued(body.into_bytes()).log(format!("oauth: tokens issued for grant {id}"));
    Ok((put, answer))
}

fn code_grant(o: &OAuth<'_>, io: &Io, p: &Params, client: &Value) -> Result<Response, Stop> {
    const UNKNOWN: &str = "The authorization code is unknown, expired or already used.";
    let code = p.get("code").unwrap_or("");
    if !shaped(code, CODE) {
        return invalid_grant(UNKNOWN);
    }
    let key = format!("c:{}", hash(code));
    let mut g = io.get(&key)?;
    if g.is_null() {
        return invalid_grant(UNKNOWN);
    }
    // What the store holds, as the precondition of spending it: records are
    // written from `Value`s, whose keys are kept sorted, so this is their text.
    let text = g.to_string();
    if !record::text(&g, "used").is_empty() {
        // RFC 6749 §4.1.2: a code presented twice revokes what it gave.
        drop_grant(o, io, record::text(&g, "used"))?;
        return Ok(oauth_error(400, "invalid_grant", "The authorization code was already used, so the access it gave has been revoked. Sign in again.")
            .log("oauth: code reuse; grant revoked"));
    }
    if record::text(&g, "client") != record::text(client, "id") {
        return invalid_grant("The authorization code was issued to another client.");
    }
    let redirect = p.get("redirect_uri");
    // Stored as a number (see `record`): 1 when the authorization request named it.
    if (record::number(&g, "redirect_given") == 1 || redirect.is_some())
        && redirect != Some(record::text(&g, "redirect"))
    {
        return invalid_grant("redirect_uri differs from the one in the authorization request.");
    }
    let verifier = p.get("code_verifier").unwrap_or("");
    // RFC 7636: 43 to 128 unreserved characters, whose S256 is the challenge.
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !verifier_ok
        || !crate::auth::ct_eq(
            hash(verifier).as_bytes(),
            record::text(&g, "challenge").as_bytes(),
        )
    {
        return Ok(oauth_error(
            400,
            "invalid_grant",
            "code_verifier is missing or does not match the code_challenge (PKCE S256).",
        )
        .log("oauth: PKCE refused"));
    }
    let Some(aud) = audience(o, p, &g) else {
        return Ok(oauth_error(400, "invalid_target", BAD_TARGET));
    };
    let grant_key = match record::text(&g, "wrapped") {
        "" => None,
        w => match unwrap_key(io, code, w)? {
            Some(k) => Some(k),
            None => return invalid_grant(UNKNOWN),
        },
    };
    // What only the code needed (the grant key wrapped for the code
    // included) does not go into the grant.
    if let Some(m) = g.as_object_mut() {
        for f in ["wrapped", "challenge", "redirect_given"] {
            m.remove(f);
        }
    }
    let (access, answer) = mint(o, io, &mut g, grant_key.as_ref(), aud, None)?;
    let id = record::text(&g, "id");
    let spent = record::new(&[("used", id)], &[]).to_string();
    let ops = vec![
        cas(&key, Some(&text), "", &spent, o.now() + CODE_TTL),
        op(
            "put",
            &format!("g:{id}"),
            record::text(&g, "tenant"),
            &g.to_string(),
            record::number(&g, "expires"),
        ),
        access,
    ];
    match io.store(ops)? {
        Some(_) => Ok(answer),
        None => invalid_grant(UNKNOWN),
    }
}

fn refresh_grant(o: &OAuth<'_>, io: &Io, p: &Params, client: &Value) -> Result<Response, Stop> {
    const UNKNOWN: &str = "The refresh token is unknown, expired or revoked. Sign in again.";
    let rt = p.get("refresh_token").unwrap_or("");
    // Junk is refused before any store read.
    let Some(shape) = o.shape(REFRESH_CHECK, rt, old_refresh) else {
        return invalid_grant(UNKNOWN);
    };
    let id = &rt[REFRESH.len()..REFRESH.len() + 24];
    let hash = hash(rt);
    let key = format!("g:{id}");
    let replay = format!("x:{hash}");
    // Two clients refreshing at once: the loser reads the grant again, and
    // finds the winner's answer to replay.
    for _ in 0..3 {
        let rows = io
            .store(vec![
                op("get", &key, "", "", 0),
                op("get", &replay, "", "", 0),
                op("get", "m:old", "", "", 0),
            ])?
            .unwrap_or_default();
        let row = |i: usize| rows.get(i).and_then(Value::as_str);
        // The older shape only while such tokens can be alive (see
        // `OAuth::old_shapes_since`; `/mcp` writes that row).
        let since = row(2).and_then(|t| t.parse::<u64>().ok());
        if shape == Shape::Older && since.is_some_and(|t| o.now() >= t + REFRESH_TTL) {
            return invalid_grant(UNKNOWN);
        }
        let mut g = row(0).map(record::parse).unwrap_or_default();
        // This token was first used less than REPLAY_TTL ago: the same
        // answer again, so each racer's tokens stay the grant's current ones.
        if let (Some(sealed), true) = (
            row(1),
            record::text(&g, "client") == record::text(client, "id"),
        ) {
            if let Some(body) = io.open(replay_key(rt), sealed)? {
                return Ok(issued(body.to_vec()).log("oauth: refresh answered again"));
            }
        }
        let text = g.to_string();
        let current = record::text(&g, "cur") == hash;
        if !current && record::text(&g, "prev") != hash {
            if g["retired"]
                .as_array()
                .is_some_and(|r| r.iter().any(|h| *h == *hash))
            {
                // A rotated-out token came back after its successor was used:
                // two parties hold this grant's tokens, so neither keeps it.
                drop_grant(o, io, id)?;
                return Ok(oauth_error(400, "invalid_grant", "This refresh token was replaced by a newer one that has been used, so the grant has been revoked. Sign in again.")
                    .log("oauth: refresh token reuse; grant revoked"));
            }
            return invalid_grant(UNKNOWN);
        }
        if record::text(&g, "client") != record::text(client, "id") {
            return invalid_grant("The refresh token was issued to another client.");
        }
        let hashed = record::text(&g, "op");
        if !hashed.is_empty() {
            match operator_scopes(o, hashed, record::text(&g, "scope")) {
                None => return invalid_grant(REMOVED),
                Some(left) if left.is_empty() => {
                    drop_grant(o, io, id)?;
                    return invalid_grant(LOWERED);
                }
                // Lowered for good: raising the token again does not raise the grant.
                Some(left) => g["scope"] = Value::from(left),
            }
        }
        let scope = p.get("scope");
        if scope.is_some_and(|sc| {
            !sc.split(' ')
                .all(|x| record::text(&g, "scope").split(' ').any(|y| y == x))
        }) {
            return Ok(oauth_error(
                400,
                "invalid_scope",
                "A refresh may ask only for scopes the grant has.",
            ));
        }
        let Some(aud) = audience(o, p, &g) else {
            return Ok(oauth_error(400, "invalid_target", BAD_TARGET));
        };
        let grant_key = match record::text(&g, if current { "wcur" } else { "wprev" }) {
            "" => None,
            w => match unwrap_key(io, rt, w)? {
                Some(k) => Some(k),
                None => return invalid_grant(UNKNOWN),
            },
        };
        // The token used becomes the previous one, so a client that lost the
        // answer can retry with it until it uses the new one; a current token
        // never used is retired.
        let gone = if current {
            let old = g["prev"].take();
            g["prev"] = Value::from(hash.as_str());
            g["wprev"] = g["wcur"].take();
            old
        } else {
            g["cur"].take()
        };
        if let Some(h) = gone.as_str() {
            let mut retired = g["retired"].as_array().cloned().unwrap_or_default();
            retired.push(Value::from(h));
            let skip = retired.len().saturating_sub(RETIRED_KEPT);
            g["retired"] = Value::Array(retired.split_off(skip));
        }
        let (access, answer) = mint(o, io, &mut g, grant_key.as_ref(), aud, scope)?;
        let sealed = io.seal(replay_key(rt), answer.body.clone())?;
        let ops = vec![
            cas(
                &key,
                Some(&text),
                record::text(&g, "tenant"),
                &g.to_string(),
                record::number(&g, "expires"),
            ),
            access,
            // In the grant's group, so ending the grant drops it too.
            op("put", &replay, id, &sealed, o.now() + REPLAY_TTL),
        ];
        if io.store(ops)?.is_some() {
            return Ok(answer.log("oauth: refreshed"));
        }
    }
    Err(Stop::Down(
        "refresh: the grant kept changing while it was rotated".into(),
    ))
}

/// `POST /revoke`. Any well-formed request by an authenticated client gets
/// 200, whether or not the token was known (RFC 7009 §2.2); a token of
/// another client is left alone. Revoking either token of a grant ends it.
pub(super) fn revoke(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let (p, client) = match form_and_client(o, req, io)? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let Some(t) = p.get("token") else {
        return Ok(oauth_error(400, "invalid_request", "token is missing."));
    };
    let hash = hash(t);
    let grant = if o.shape(ACCESS_CHECK, t, old_access).is_some() {
        io.get(&format!("a:{hash}"))?
    } else if let Some((id, _)) = t.strip_prefix(REFRESH).and_then(|r| r.split_once('.')) {
        let g = io.get(&format!("g:{id}"))?;
        // Only a token of the grant: its grant id alone is not a secret.
        let known = record::text(&g, "cur") == hash
            || record::text(&g, "prev") == hash
            || g["retired"]
                .as_array()
                .is_some_and(|r| r.iter().any(|h| *h == *hash));
        if known {
            g
        } else {
            Value::Null
        }
    } else {
        Value::Null
    };
    let r = Response::new(200)
        .header("access-control-allow-origin", "*")
        .header("cache-control", "no-store");
    let id = record::text(&grant, "id");
    if id.is_empty() || record::text(&grant, "client") != record::text(&client, "id") {
        return Ok(r);
    }
    drop_grant(o, io, id)?;
    Ok(r.log(format!("oauth: grant {id} revoked by its client")))
}
