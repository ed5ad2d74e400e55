//! Byte and text encodings shared by every layer: base64, percent-encoding of
//! URL parts, the FNV-1a hash and ISO 8601 times. No knowledge of HTTP, MCP
//! or Scale lives here.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters, as Scale's
/// Python client does (`quote(s, safe="")`), so `/`, `?`, `#`, `%` and `\`
/// can never change the shape of a URL they are put into.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
///
/// Hand-written: the `base64` crate is not in the dependency tree, and these
/// few lines are all the worker needs (Basic auth, cursors, header values).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Standard or URL-safe base64, padding optional; `None` on other characters.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// A percent-encoded URL part decoded to UTF-8 text (a `%` not followed by
/// two hex digits stays as it is); `None` when the bytes are not UTF-8.
/// Hand-written: a few lines where the crate's decoder links several.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// An HTTP header value as text: values that are not plain ASCII arrive in
/// the MCP form `=?base64?…?=` (as `Mcp-Name` does), others as they are.
/// `None` when the base64 form does not decode to UTF-8.
pub(crate) fn decode_header_value(v: &str) -> Option<String> {
    let v = v.trim();
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64_decode(b64).and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_string()),
    }
}

/// FNV-1a, 64 bit: stable across builds and platforms. Not collision
/// resistant: for shortening names in keys, never for telling contents apart.
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a, 128 bit, as 32 hex digits: stable across builds and platforms.
/// For ids derived from content, where a collision is checked for anyway.
pub fn fnv128_hex(data: &[u8]) -> String {
    let h = data
        .iter()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d_u128, |h, b| {
            (h ^ *b as u128).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        });
    // Two u64 halves: formatting a u128 would link code for it.
    format!("{:016x}{:016x}", (h >> 64) as u64, h as u64)
}

/// Formats Unix milliseconds as an ISO 8601 UTC time with milliseconds.
///
/// Hand-written: `chrono` is in `worker`'s dependency tree, but none of its
/// formatting is linked into the worker; formatting with it measured 16 KiB
/// more of the compressed upload than these lines.
pub fn iso_from_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_and_percent_decoding() {
        assert_eq!(
            decode_header_value("=?base64?dG9vbHMvY2FsbA==?=").as_deref(),
            Some("tools/call")
        );
        assert_eq!(decode_header_value("=?base64?w6k=?=").as_deref(), Some("é"));
        assert_eq!(decode_header_value("=?base64?***?=").as_deref(), None);
        assert_eq!(decode_header_value("=?base64?/w==?=").as_deref(), None);
        assert_eq!(decode_header_value(" ping ").as_deref(), Some("ping"));
        assert_eq!(percent_decode("caf%C3%A9%2Fx").as_deref(), Some("café/x"));
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("100%-%2g%4").as_deref(), Some("100%-%2g%4"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        let unreserved = "ABCXYZabcxyz0123456789-_.~";
        assert_eq!(percent_encode(unreserved), unreserved);
        for (raw, enc) in [
            ("a/b", "a%2Fb"),
            ("a b", "a%20b"),
            ("a?b=c", "a%3Fb%3Dc"),
            ("100%", "100%25"),
            ("%2F", "%252F"),
            ("é", "%C3%A9"),
            ("a\\b", "a%5Cb"),
        ] {
            assert_eq!(percent_encode(raw), enc, "{raw}");
        }
    }

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "test_key_abc:",
        ] {
            assert_eq!(base64_decode(&base64(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64(b"test_key_abc:"), "dGVzdF9rZXlfYWJjOg==");
        assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
        assert_eq!(base64_decode("w6k").unwrap(), "é".as_bytes());
        assert_eq!(base64_decode("a*b"), None);
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_ms(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(iso_from_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
        // The published FNV-1a 128 test vectors.
        assert_eq!(fnv128_hex(b""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(fnv128_hex(b"a"), "d228cb696f1a8caf78912b704e4a8964");
        assert_eq!(fnv128_hex(b"foobar"), "343e1662793c64bf6f0d3597ba446f18");
    }
}
