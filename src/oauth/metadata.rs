//! What a client says about itself, checked before anything of it is used
//! or shown: the name every client shows ([`display_name`], for a metadata
//! document and a registration alike), and the rules a client metadata
//! document (CIMD) must follow ([`document`]).

use super::record;
use super::redirect::redirect_uris;
use serde_json::Value;

/// The Unicode format characters (general category Cf, Unicode 16), as
/// inclusive ranges. Invisible, and some reorder or hide the text around
/// them: a right-to-left override makes "edualC" read "Claude".
const FORMAT: [(u32, u32); 21] = [
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A client name fit to show: no control or format characters, at most 80
/// characters.
#[inline(never)]
pub(super) fn display_name(raw: Option<&str>, fallback: &str) -> String {
    let (mut clean, mut kept) = (String::new(), 0);
    for c in raw.unwrap_or("").chars() {
        if kept == 80 {
            break;
        }
        let c32 = c as u32;
        if !c.is_control() && !FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&c32)) {
            clean.push(c);
            kept += 1;
        }
    }
    let clean = clean.trim();
    if clean.is_empty() { fallback } else { clean }.to_string()
}

/// The client a fetched metadata document describes, or why it cannot be used.
pub(super) fn document(id: &str, host: &str, body: &[u8]) -> Result<Value, String> {
    let doc = match crate::json::parse_strict(body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return Err("it is not a JSON object".into()),
        Err(e) => return Err(format!("it is not valid JSON ({e})")),
    };
    if doc["client_id"] != id {
        return Err("its `client_id` is not exactly the URL it was fetched from".into());
    }
    if doc.get("client_secret").is_some() {
        return Err("it contains a client secret, which a metadata document must not".into());
    }
    let redirects = redirect_uris(&doc)?;
    // One method or, as ChatGPT's does, several by preference: with no
    // secret shared, the one usable here is `none` (PKCE).
    let method = &doc["token_endpoint_auth_method"];
    let none_ok = method.is_null()
        || *method == "none"
        || method
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "none"));
    if !none_ok {
        return Err("it does not list the token endpoint auth method `none`, the only one a metadata-document client can use here".into());
    }
    let name = display_name(doc["client_name"].as_str(), host);
    let mut client = record::new(
        &[
            ("id", id),
            ("name", &name),
            ("auth", "none"),
            ("host", host),
        ],
        &[],
    );
    client["redirects"] = redirects;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_cleaned_and_bounded() {
        assert_eq!(display_name(Some("  A\u{0}B\n "), "h"), "AB");
        assert_eq!(display_name(None, "host.example"), "host.example");
        assert_eq!(display_name(Some(&"x".repeat(500)), "h").len(), 80);
        // Format characters (Cf) go too, at the edges of each of their
        // ranges, and their neighbours stay.
        assert_eq!(
            display_name(Some("Pay\u{200B}Pal\u{202E}\u{2066} Inc\u{FEFF}"), "h"),
            "PayPal Inc"
        );
        for c in [
            '\u{AD}',
            '\u{600}',
            '\u{605}',
            '\u{61C}',
            '\u{6DD}',
            '\u{70F}',
            '\u{890}',
            '\u{891}',
            '\u{8E2}',
            '\u{180E}',
            '\u{200B}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{206F}',
            '\u{FEFF}',
            '\u{FFF9}',
            '\u{FFFB}',
            '\u{110BD}',
            '\u{110CD}',
            '\u{13430}',
            '\u{1343F}',
            '\u{1BCA0}',
            '\u{1BCA3}',
            '\u{1D173}',
            '\u{1D17A}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E007F}',
        ] {
            assert_eq!(
                display_name(Some(&format!("a{c}b")), "h"),
                "ab",
                "U+{:X}",
                c as u32
            );
        }
        for c in [
            '\u{AC}',
            '\u{AE}',
            '\u{606}',
            '\u{2010}',
            '\u{2065}',
            '\u{2070}',
            '\u{FFFC}',
            '\u{13440}',
            '\u{1D17B}',
            '\u{E0080}',
            'é',
            '名',
        ] {
            let kept = format!("a{c}b");
            assert_eq!(display_name(Some(&kept), "h"), kept, "U+{:X}", c as u32);
        }
    }
}
