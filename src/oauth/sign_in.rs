//! Signing in on a page, the step the sign-in page and the grants page
//! share: the method chosen (the person's own Scale key, or one of the
//! operator's static tokens) and its secret, rate limited per address; and
//! failed sign-ins counted over all addresses, so that a wave of guessing
//! is logged and slows each guessing address, never anyone else.

use super::issued::OPERATOR;
use super::limit::{client_ip, limited};
use super::params::Params;
use super::server::OAuth;
use super::step::{Io, Stop};
use crate::auth::Principal;
use crate::http::Request;
use crate::io::state::op;

/// What to tell the person when a sign-in cannot go on, with the status of
/// the page that says it.
pub(super) type Said<T> = Result<T, (u16, String)>;

#[inline(never)]
pub(super) fn say<T>(status: u16, m: &str) -> Result<Said<T>, Stop> {
    Ok(Err((status, m.to_string())))
}

/// Who is signing in: the secret they gave, and for operator access the
/// static token's principal and its keyed hashes under every server key
/// (`None` and empty for a user's own key).
pub(super) type Signer<'p> = (&'p str, Option<Principal>, Vec<String>);

/// The sign-in step both pages share: the method and its secret, rate
/// limited per address, and for operator access the token it is.
pub(super) fn method_and_secret<'p>(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    p: &'p Params,
) -> Result<Said<Signer<'p>>, Stop> {
    let (method, field, ask) = match p.get("method") {
        Some("own_key") if o.cfg.oauth_byok => {
            ("own_key", "scale_key", "Enter your Scale API key.")
        }
        Some("operator") if !o.tokens.is_empty() => (
            "operator",
            "operator_token",
            "Enter an access token from this server's operator.",
        ),
        Some("own_key" | "operator") => {
            return say(400, "That sign-in method is not offered by this server.")
        }
        _ => return say(400, "Choose how to sign in."),
    };
    let Some(secret) = p.get(field).map(str::trim).filter(|v| !v.is_empty()) else {
        return say(400, ask);
    };
    let bucket = bucket(method, req);
    if let Some(wait) = limited(o, io, &bucket, ATTEMPTS, SIGN_IN_WINDOW)? {
        return Ok(Err((
            429,
            format!("Too many sign-in attempts from your network. Try again in {wait} seconds."),
        )));
    }
    if method == "own_key" {
        return Ok(Ok((secret, None, Vec::new())));
    }
    // `identify` compares every static token, in constant time.
    match o.tokens.identify(secret) {
        Some(p) => Ok(Ok((secret, Some(p), o.macs(OPERATOR, secret.as_bytes())))),
        None => {
            failed(o, io, &bucket)?;
            say(401, "That is not one of this server's access tokens.")
        }
    }
}

/// The rate-limit bucket of sign-ins with `method` from the request's address.
pub(super) fn bucket(method: &str, req: &Request) -> String {
    let kind = if method == "own_key" { "key" } else { "op" };
    format!("{kind}:{}", client_ip(req))
}

/// Sign-in attempts one address may make per [`SIGN_IN_WINDOW`] (each
/// method counts on its own).
const ATTEMPTS: u64 = 10;
const SIGN_IN_WINDOW: u64 = 600;
/// Failed sign-ins from all addresses in a window past which an alert is
/// logged and each failure counts as [`PENALTY`] more attempts of its address.
const FAILURES_ALERT: u64 = 100;
const PENALTY: usize = 3;

/// Counts a wrong token or a key Scale refused, over all addresses. Past
/// [`FAILURES_ALERT`] in a window the 101st (and each hundred more) is
/// logged as an alert, and the failing address's `bucket` is charged
/// [`PENALTY`] attempts more, so it gets 3 failures a window instead of 10.
/// Addresses that do not fail are not slowed: nobody is locked out by
/// someone else's guessing.
pub(super) fn failed(o: &OAuth<'_>, io: &Io, bucket: &str) -> Result<(), Stop> {
    let rows = io
        .store(vec![op("hit", "r:signin-failed", "", "", SIGN_IN_WINDOW)])?
        .unwrap_or_default();
    let n = rows.first().and_then(|h| h[0].as_u64()).unwrap_or(0);
    if n > FAILURES_ALERT {
        if n % FAILURES_ALERT == 1 {
            o.alert.set(Some(n));
        }
        let key = format!("r:{bucket}");
        let mut hits = Vec::new();
        for _ in 0..PENALTY {
            hits.push(op("hit", &key, "", "", SIGN_IN_WINDOW));
        }
        io.store(hits)?;
    }
    Ok(())
}

/// The alert logged when failed sign-ins from all addresses reach `n`.
pub(super) fn alert_line(n: u64) -> String {
    format!("oauth: ALERT: {n} failed sign-ins from all addresses within 10 minutes; each failure now counts as 4 attempts of its address")
}
