//! One Scale request before encoding: method, path segments (each
//! percent-encoded as exactly one segment), query and JSON body.

use crate::codec::percent_encode;
use crate::io::Method;
use serde_json::Value;
use std::fmt;

/// A path argument longer than this cannot be a Scale id or name.
pub const MAX_SEGMENT_LEN: usize = 1024;

/// One Scale request before encoding.
#[derive(Clone, Debug, Default)]
pub struct Call {
    pub method: Method,
    segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Call {
    pub fn new(method: Method) -> Self {
        Self {
            method,
            ..Default::default()
        }
    }
    pub fn get() -> Self {
        Self::new(Method::Get)
    }
    pub fn post() -> Self {
        Self::new(Method::Post)
    }
    /// A fixed path segment.
    pub fn lit(mut self, s: &str) -> Self {
        self.segments.push(s.to_string());
        self
    }
    /// A path segment taken from argument `name`: refused when empty, a dot
    /// segment or absurdly long; otherwise encoded as exactly one segment.
    pub fn seg(mut self, name: &str, value: &str) -> Result<Self, InvalidSegment> {
        check_segment(name, value)?;
        self.segments.push(value.to_string());
        Ok(self)
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }
    pub fn query_opt(self, k: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.query(k, v),
            None => self,
        }
    }
    pub fn body(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }
    /// The path as sent, e.g. `/task/abc%2Fdef/cancel`.
    pub fn path(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("/{}", percent_encode(s)))
            .collect()
    }
    /// A short description for messages, e.g. `POST /task/abc/cancel`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path())
    }
    pub fn url(&self, base: &str) -> String {
        let mut u = format!("{}{}", base, self.path());
        for (i, (k, v)) in self.query.iter().enumerate() {
            u.push(if i == 0 { '?' } else { '&' });
            u.push_str(&percent_encode(k));
            u.push('=');
            u.push_str(&percent_encode(v));
        }
        u
    }
}

/// A value that cannot be one path segment; the message names the argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSegment(pub String);

impl fmt::Display for InvalidSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidSegment {}

/// Refuses a path segment taken from argument `name` when it is empty, a dot
/// segment or longer than any Scale id or name.
pub fn check_segment(name: &str, value: &str) -> Result<(), InvalidSegment> {
    if value.is_empty() {
        return Err(InvalidSegment(format!("`{name}` must not be empty")));
    }
    if value == "." || value == ".." {
        // URL parsers resolve dot segments (even encoded ones), which would
        // move the request to another endpoint.
        return Err(InvalidSegment(format!("`{name}` cannot be `{value}`")));
    }
    if value.len() > MAX_SEGMENT_LEN {
        return Err(InvalidSegment(format!(
            "`{name}` is too long ({} bytes; at most {MAX_SEGMENT_LEN})",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::testing::BASE;

    // ---------------------------------------------------------------- encoding

    #[test]
    fn encode_keeps_unreserved_characters() {
        let unreserved = "ABCXYZabcxyz0123456789-_.~";
        assert_eq!(percent_encode(unreserved), unreserved);
    }

    #[test]
    fn encode_percent_encodes_everything_else() {
        let cases = [
            ("a/b", "a%2Fb"),
            ("a b", "a%20b"),
            ("a?b=c", "a%3Fb%3Dc"),
            ("a#b", "a%23b"),
            ("100%", "100%25"),
            ("%2F", "%252F"),
            ("a\\b", "a%5Cb"),
            ("a\nb\r\t\0", "a%0Ab%0D%09%00"),
            ("\u{7f}", "%7F"),
            ("é", "%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("😀", "%F0%9F%98%80"),
            ("a+b&c;d:e@f", "a%2Bb%26c%3Bd%3Ae%40f"),
            ("../projects", "..%2Fprojects"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(percent_encode(input), want, "percent_encode({input:?})");
        }
    }

    #[test]
    fn check_segment_refuses_empty_dots_and_long_values() {
        let cases = [
            ("", "`task_id` must not be empty"),
            (".", "`task_id` cannot be `.`"),
            ("..", "`task_id` cannot be `..`"),
        ];
        for (v, want) in cases {
            let e = check_segment("task_id", v).unwrap_err();
            assert_eq!(e.0, want);
        }
        let long = "a".repeat(MAX_SEGMENT_LEN + 1);
        let e = check_segment("name", &long).unwrap_err();
        assert_eq!(e.0, "`name` is too long (1025 bytes; at most 1024)");
        // Length is counted in bytes: 342 three-byte characters are 1026 bytes.
        let e = check_segment("name", &"日".repeat(342)).unwrap_err();
        assert!(e.0.contains("1026 bytes"), "{}", e.0);
        // Accepted: the maximum, and values that only look like dot segments.
        for ok in [
            "a".repeat(MAX_SEGMENT_LEN),
            "...".into(),
            ".a".into(),
            "a.".into(),
            "%2e%2e".into(),
        ] {
            check_segment("name", &ok).unwrap();
        }
    }

    #[test]
    fn seg_refuses_what_check_segment_refuses() {
        assert!(Call::get().lit("task").seg("task_id", "..").is_err());
        assert!(Call::get().lit("task").seg("task_id", "").is_err());
        let c = Call::get()
            .lit("task")
            .seg("task_id", "../projects")
            .unwrap();
        assert_eq!(c.path(), "/task/..%2Fprojects");
    }

    // ---------------------------------------------------------------- building

    #[test]
    fn url_encodes_path_segments_and_query() {
        let c = Call::post()
            .lit("task")
            .seg("task_id", "a/b?c#d")
            .unwrap()
            .lit("cancel")
            .query("clear_unique_id", "true")
            .query("tags", "x y")
            .query("tags", "a&b=c")
            .query_opt("none", None::<String>)
            .query_opt("some", Some("é"));
        assert_eq!(c.path(), "/task/a%2Fb%3Fc%23d/cancel");
        assert_eq!(
            c.url(BASE),
            "https://api.test/v1/task/a%2Fb%3Fc%23d/cancel?clear_unique_id=true&tags=x%20y&tags=a%26b%3Dc&some=%C3%A9"
        );
        assert_eq!(c.describe(), "POST /task/a%2Fb%3Fc%23d/cancel");
        assert_eq!(
            Call::get().lit("projects").url(BASE),
            "https://api.test/v1/projects"
        );
    }
}
