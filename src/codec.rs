//! Byte and text encodings shared by every layer: base64, percent-encoding of
//! URL parts, the FNV-1a hash, SHA-256 and HMAC, constant-time comparison and
//! ISO 8601 times. No knowledge of HTTP, MCP or Scale lives here.

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

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with padding.
///
/// Hand-written: the `base64` crate is not in the dependency tree, and these
/// few lines are all the worker needs (Basic auth, cursors, header values).
pub fn base64(data: &[u8]) -> String {
    encode(data, B64, true)
}

/// URL-safe base64 without padding (RFC 4648 §5), as tokens and ids use it.
pub fn base64url(data: &[u8]) -> String {
    encode(data, B64URL, false)
}

fn encode(data: &[u8], table: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(table[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` name or value (`+` is a
/// space, `%XX` a byte); `None` for a broken escape or bytes that are not UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        out.push(match b[i] {
            b'+' => b' ',
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                i += 2;
                u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.bytes().all(|c| c.is_ascii_hexdigit()))?
            }
            c => c,
        });
        i += 1;
    }
    String::from_utf8(out).ok()
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

/// Lower-case hex of `b`.
pub(crate) fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 15)] as char);
    }
    out
}

/// SHA-256 (FIPS 180-4).
///
/// Hand-written rather than WebCrypto's `digest`: the OAuth server hashes
/// tokens, PKCE verifiers and MACs on most of its steps, and a synchronous
/// hash lets those steps be plain functions instead of one more awaited
/// promise each; that measured several KiB less of the compressed upload, and
/// on the hot path a 50-byte hash here costs less CPU than a WebCrypto call.
/// Encryption stays with WebCrypto (`io::Crypto`).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    // The message, a 1 bit, zeros to 56 mod 64 bytes, and its length in bits.
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..64 {
            w[i] = if i < 16 {
                u32::from_be_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ])
            } else {
                let (a, b) = (w[i - 15], w[i - 2]);
                let s0 = a.rotate_right(7) ^ a.rotate_right(18) ^ (a >> 3);
                let s1 = b.rotate_right(17) ^ b.rotate_right(19) ^ (b >> 10);
                w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1)
            };
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let t1 = hh
                .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
                .wrapping_add((e & f) ^ (!e & g))
                .wrapping_add(SHA256_K[i])
                .wrapping_add(w[i]);
            let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22))
                .wrapping_add((a & b) ^ (a & c) ^ (b & c));
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.iter().map(move |b| b ^ x);
    let inner = sha256(&pad(0x36).chain(data.iter().copied()).collect::<Vec<u8>>());
    sha256(&pad(0x5c).chain(inner).collect::<Vec<u8>>())
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

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = if i < a.len() { a[i] } else { 0 };
        let y = if i < b.len() { b[i] } else { 0 };
        diff |= (x ^ y) as u64;
    }
    std::hint::black_box(diff) == 0
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
        assert_eq!(base64url(&[0xfb, 0xff, 0xfe, 0x01]), "-__-AQ");
        assert_eq!(base64_decode("-__-AQ").unwrap(), [0xfb, 0xff, 0xfe, 0x01]);
        assert_eq!(base64url(b"foob"), "Zm9vYg");
    }

    #[test]
    fn form_components_decode_plus_and_escapes_and_refuse_broken_ones() {
        assert_eq!(form_decode("a+b%2B%C3%A9%26").as_deref(), Some("a b+é&"));
        for bad in ["%zz", "%4", "%ff", "%+1"] {
            assert_eq!(form_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_ms(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(iso_from_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn sha256_and_hmac_match_the_published_vectors() {
        // FIPS 180-4 examples, and lengths around the padding boundaries.
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 55])),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 56])),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 64])),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
        );
        // RFC 4231 test cases 1, 2 and 6 (a key longer than a block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
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
