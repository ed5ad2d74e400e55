//! The parameters of a request: a query string, or a form post's body read
//! through the endpoint's steps.

use super::step::{Io, Stop};
use crate::http::Request;

/// Form or query parameters. Each may appear once (RFC 6749 §3.1), except
/// the sign-in page's `grant_scope` checkboxes; an empty value counts as absent.
pub(super) struct Params(pub(super) Vec<(String, String)>);

impl Params {
    pub(super) fn parse(s: &str) -> Result<Params, String> {
        let mut v: Vec<(String, String)> = Vec::new();
        for part in s.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = part.split_once('=').unwrap_or((part, ""));
            let (Some(k), Some(val)) =
                (crate::codec::form_decode(k), crate::codec::form_decode(val))
            else {
                return Err(
                    "The parameters contain a malformed %-escape or text that is not UTF-8.".into(),
                );
            };
            if k != "grant_scope" && v.iter().any(|(k2, _)| *k2 == k) {
                return Err(format!(
                    "The parameter `{}` appears more than once.",
                    crate::json::truncate(&k, 40)
                ));
            }
            v.push((k, val));
        }
        Ok(Params(v))
    }
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v == value)
    }
}

/// The body of a form post, as parameters; `Ok(Err(_))` is what to tell the caller.
pub(super) fn read_form(req: &Request, io: &Io) -> Result<Result<Params, String>, Stop> {
    let form = req
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Ok(Err(
            "Send the request as application/x-www-form-urlencoded.".into(),
        ));
    }
    let Some(body) = io.body()? else {
        return Ok(Err(
            "The body is larger than 64 KiB or could not be read.".into()
        ));
    };
    Ok(match std::str::from_utf8(body) {
        Ok(text) => Params::parse(text),
        Err(_) => Err("The body is not UTF-8.".into()),
    })
}
