//! Rate limits: whom a per-address limit counts ([`client_ip`], which the
//! router's limit on refused bearer tokens uses too), and counting attempts
//! in the store's fixed windows ([`limited`]). Which buckets each endpoint
//! counts, and how many attempts each allows, is the endpoint's own rule.

use super::server::OAuth;
use super::step::{Io, Stop};
use crate::http::Request;
use crate::io::state::op;
use serde_json::Value;

/// Counts an attempt in `bucket`, which allows `limit` in each fixed window
/// of `window` seconds; `Some(seconds to wait)` when it is over its limit.
pub(super) fn limited(
    o: &OAuth<'_>,
    io: &Io,
    bucket: &str,
    limit: u64,
    window: u64,
) -> Result<Option<u64>, Stop> {
    let hits = io.store(vec![op("hit", &format!("r:{bucket}"), "", "", window)])?;
    Ok(hits
        .and_then(<[Value]>::first)
        .filter(|hit| hit[0].as_u64().unwrap_or(0) > limit)
        .map(|hit| hit[1].as_u64().unwrap_or(0).saturating_sub(o.now()).max(1)))
}

/// Whom a per-address rate limit counts: the caller's IPv4 address as
/// Cloudflare reports it, or the /64 of an IPv6 one. A /64 is what one
/// subscriber gets, so rotating addresses inside it gains nothing.
#[inline(never)]
pub(crate) fn client_ip(req: &Request) -> String {
    let ip = req
        .header("cf-connecting-ip")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .unwrap_or("unknown");
    if !ip.contains(':') {
        return ip.to_string();
    }
    // One pass over the bytes rather than a parser (for the upload's size):
    // Cloudflare reports a well-formed address (an IPv4 caller in dotted
    // form), and only the same /64 must give the same key. `groups[..n]` are
    // the hex groups; `gap` is where `::` stands.
    let (mut groups, mut n, mut gap, mut empty) = ([0u16; 9], 0, 9, true);
    for &c in ip.as_bytes().iter().chain(b":") {
        if c != b':' {
            if n < 9 {
                groups[n] = groups[n] << 4 | (c as char).to_digit(16).unwrap_or(0) as u16;
            }
            empty = false;
        } else if !empty {
            n += 1;
            empty = true;
        } else if gap == 9 {
            gap = n;
        }
    }
    let zeros = if gap < 9 { 8usize.saturating_sub(n) } else { 0 };
    let net = (0..4).fold(0u64, |net, i| {
        let g = match i {
            i if i < gap => groups[i],
            i if i < gap + zeros => 0,
            i => groups[i - zeros],
        };
        net << 16 | u64::from(g)
    });
    format!("{net:x}/64")
}
