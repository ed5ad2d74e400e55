//! Reads a callback body in one strict pass, without building it as a tree.
//!
//! A delivery is stored as received; the receiver only needs to know that it
//! is strict JSON (the rules of [`crate::json::parse_strict`]), what it is
//! about (the task id, batch and status near the top) and a content
//! fingerprint. Building a `serde_json::Value` for a 50 KB task response and
//! dropping it again was most of the receiver's own work, so this pass keeps
//! only the strings and objects of the first levels and reduces everything
//! else to a hash as it goes.
//!
//! The hash is structural: it covers types and values, not layout, so
//! whitespace, key order and escapes do not change it (`{"a":1,"b":"x"}` and
//! `{ "b" : "\u0078", "a" : 1 }` hash alike), while `1` and `1.0` differ as
//! they do in JSON values. It is not meant to resist an adversary: the sender
//! is authenticated before the body is read.

use crate::json::{read_strict, KeySeed, Keys};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Objects this deep or shallower keep their fields; strings one level
/// deeper keep their text (`task.batch` is the deepest name read).
const KEEP_FIELDS: u8 = 1;
const KEEP_TEXT: u8 = 2;

/// A value as the scan keeps it.
pub enum Node<'a> {
    Str(Cow<'a, str>, u64),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>, u64),
    Other(u64),
}

impl<'a> Node<'a> {
    pub fn hash(&self) -> u64 {
        match self {
            Node::Str(_, h) | Node::Obj(_, h) | Node::Other(h) => *h,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(fields, _) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s, _) => Some(s),
            _ => None,
        }
    }
    /// The string at `path` below this node, if every step exists.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        let mut cur = self;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str()
    }
}

/// Reads `bytes` as strict JSON; the error is the same message
/// `parse_strict` gives.
pub fn scan(bytes: &[u8]) -> Result<Node<'_>, String> {
    read_strict(bytes, Scan(0))
}

/// SplitMix64's finaliser: spreads every input bit over the output.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Folds `next` into an ordered sequence hash.
pub(crate) fn chain(h: u64, next: u64) -> u64 {
    mix(h.rotate_left(17) ^ next)
}

// Type tags, so that values of different types never hash alike by construction.
const NULL: u64 = 0x6e75_6c6c;
const FALSE: u64 = 0x6661_6c73;
const TRUE: u64 = 0x7472_7565;
const UINT: u64 = 0x7569_6e74;
const INT: u64 = 0x0069_6e74;
const FLOAT: u64 = 0x666c_6f61;
const STR: u64 = 0x0073_7472;
const ARR: u64 = 0x0061_7272;
const OBJ: u64 = 0x006f_626a;

/// A string's hash, eight bytes a step (FNV's byte at a time was a third of
/// the scan's time on a 50 KB body).
pub(crate) fn str_hash(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h = STR ^ (b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h.rotate_left(23) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(h ^ u64::from_le_bytes(last))
}

struct Scan(u8);

impl<'de> DeserializeSeed<'de> for Scan {
    type Value = Node<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl Scan {
    fn string<'s, 'de>(self, v: &'s str, keep: impl FnOnce(&'s str) -> Cow<'de, str>) -> Node<'de> {
        let h = str_hash(v);
        if self.0 <= KEEP_TEXT {
            Node::Str(keep(v), h)
        } else {
            Node::Other(h)
        }
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Other(mix(NULL)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Other(mix(if v { TRUE } else { FALSE })))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Other(chain(UINT, v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Other(chain(INT, v as u64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        if !v.is_finite() {
            return Err(E::custom("number out of range"));
        }
        Ok(Node::Other(chain(FLOAT, v.to_bits())))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(self.string(v, Cow::Borrowed))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        // Escaped text lives in the parser's scratch buffer: copied only if kept.
        Ok(self.string(v, |v| Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut h = mix(ARR);
        while let Some(item) = seq.next_element_seed(Scan(self.0.saturating_add(1)))? {
            h = chain(h, item.hash());
        }
        Ok(Node::Other(h))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let keep = self.0 <= KEEP_FIELDS;
        let mut keys = Keys::default();
        let mut fields = Vec::new();
        // Pairs are summed, so the object's hash does not depend on key order.
        let mut sum = 0u64;
        let mut n = 0u64;
        while let Some(k) = map.next_key_seed(KeySeed)? {
            // Checked before the value is read, as parse_strict does, so both
            // report the same first error.
            keys.add(k.clone())?;
            let v = map.next_value_seed(Scan(self.0.saturating_add(1)))?;
            sum = sum.wrapping_add(chain(str_hash(&k), v.hash()));
            n += 1;
            if keep {
                fields.push((k, v));
            }
        }
        let h = chain(chain(mix(OBJ), n), sum);
        Ok(if keep {
            Node::Obj(fields, h)
        } else {
            Node::Other(h)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_strict;

    fn h(s: &str) -> u64 {
        scan(s.as_bytes()).unwrap().hash()
    }

    #[test]
    fn refuses_what_parse_strict_refuses_with_the_same_message() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let many_dup = format!(
            "{{{},\"k3\":0}}",
            (0..40)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        for bad in [
            &b""[..],
            b"  ",
            b"\xff\xfe",
            br#"{"a":1,"a":2}"#,
            br#"{"x":{"a":1,"\u0061":2}}"#,
            b"1e999",
            b"{} {}",
            b"{\"a\":",
            deep.as_bytes(),
            many_dup.as_bytes(),
        ] {
            let want = parse_strict(bad).unwrap_err();
            assert_eq!(
                scan(bad).err(),
                Some(want),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(scan(many_dup.as_bytes())
            .err()
            .unwrap()
            .contains("duplicate key `k3`"));
        // Many distinct keys are fine.
        let many = format!(
            "{{{}}}",
            (0..5000)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(scan(many.as_bytes()).is_ok());
    }

    #[test]
    fn the_hash_covers_values_not_layout() {
        assert_eq!(
            h(r#"{"a":1,"b":"x"}"#),
            h(r#" { "b" : "\u0078", "a" : 1 } "#)
        );
        assert_eq!(
            h(r#"[1,{"p":[true,null]}]"#),
            h("[ 1 , { \"p\" : [ true , null ] } ]")
        );
        let distinct = [
            "null",
            "true",
            "false",
            "0",
            "1",
            "-1",
            "1.0",
            "1.5",
            "\"1\"",
            "\"\"",
            "[]",
            "{}",
            "[1,2]",
            "[2,1]",
            "[[1],2]",
            "[1,[2]]",
            r#"{"a":1}"#,
            r#"{"a":2}"#,
            r#"{"b":1}"#,
            r#"{"a":1,"b":2}"#,
            r#"{"a":2,"b":1}"#,
            r#"{"a":"b"}"#,
            r#"{"ab":""}"#,
            r#"["a","b"]"#,
            r#"["ab"]"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":{"c":1}}"#,
        ];
        let hashes: Vec<u64> = distinct.iter().map(|s| h(s)).collect();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j], "{} vs {}", distinct[i], distinct[j]);
            }
        }
    }

    #[test]
    fn keeps_the_top_levels_and_hashes_the_rest() {
        let text = r#"{"task_id":"t1","task":{"batch":"b\"1","response":{"x":"deep"}},"n":[1]}"#;
        let n = scan(text.as_bytes()).unwrap();
        assert_eq!(n.str_at(&["task_id"]), Some("t1"));
        assert_eq!(n.str_at(&["task", "batch"]), Some("b\"1"));
        // Depth 2 objects are hashes only, their strings not kept.
        assert!(matches!(
            n.get("task").unwrap().get("response"),
            Some(Node::Other(_))
        ));
        assert_eq!(n.str_at(&["task", "response", "x"]), None);
        assert_eq!(
            n.get("task").unwrap().get("response").unwrap().hash(),
            h(r#"{"x":"deep"}"#)
        );
        assert!(matches!(n.get("n"), Some(Node::Other(_))));
    }
}
