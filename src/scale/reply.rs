//! Reading Scale's answers: JSON, the plain `OK` some endpoints send, and
//! error bodies, into values or a [`ScaleError`].

use crate::http::reason_phrase;
use crate::io::InResponse;
use crate::json::truncate;
use serde_json::Value;
use std::fmt;

/// Why a Scale call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum ScaleError {
    NoKey,
    Http {
        status: u16,
        message: String,
        retry_after: Option<u32>,
    },
    Timeout(u32),
    Network(String),
    /// A 2xx whose body is not the JSON we need.
    BadBody {
        status: u16,
        detail: String,
    },
    /// The call budget ran out before an attempt could be made.
    Budget,
    /// The HTTP request has made as many subrequests as the platform allows.
    SubrequestLimit(u32),
    /// Scale answered `status` with a body above `limit` bytes, which was not read.
    TooLarge {
        status: u16,
        limit: usize,
    },
}

impl fmt::Display for ScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleError::NoKey => f.write_str("SCALE_API_KEY is not set"),
            ScaleError::Http {
                status, message, ..
            } => {
                let r = reason_phrase(*status);
                let sep = if r.is_empty() { "" } else { " " };
                write!(f, "Scale returned {status}{sep}{r}: {message}")
            }
            ScaleError::Timeout(ms) => write!(f, "Scale did not answer within {ms} ms"),
            ScaleError::Network(m) => write!(f, "could not reach Scale: {m}"),
            ScaleError::BadBody { detail, .. } => f.write_str(detail),
            ScaleError::Budget => f.write_str("the call's time budget ran out"),
            ScaleError::SubrequestLimit(n) => {
                write!(f, "the request's {n} subrequests are used up")
            }
            ScaleError::TooLarge { status, limit } => {
                write!(f, "Scale's {status} answer is larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ScaleError {}

/// Reads one answer for [`Scale::send_raw`](super::client::Scale::send_raw): a 2xx body that is valid JSON is
/// returned as text after a syntax check; errors are read as [`interpret`] does.
pub fn interpret_raw(resp: InResponse) -> Result<Option<String>, ScaleError> {
    if !(200..300).contains(&resp.status) {
        return Err(http_error(
            resp.status,
            &resp.body,
            resp.header("retry-after"),
        ));
    }
    let ct = resp.header("content-type").map(str::to_string);
    match String::from_utf8(resp.body) {
        // Plain `OK` and empty answers are read as interpret does; the rest is the
        // caller's to check, since it parses the text anyway.
        Ok(text)
            if text
                .trim_start()
                .starts_with(|c: char| "{[\"-0123456789tfn".contains(c)) =>
        {
            Ok(Some(text))
        }
        Ok(text) => interpret(resp.status, ct.as_deref(), text.as_bytes(), None).map(|_| None),
        Err(e) => interpret(resp.status, ct.as_deref(), e.as_bytes(), None).map(|_| None),
    }
}

/// The error for a 2xx answer whose text is not the JSON expected (its
/// callers have already failed to read it).
pub fn not_json(text: &str) -> ScaleError {
    ScaleError::BadBody {
        status: 200,
        detail: format!(
            "Scale answered 200 with JSON of an unexpected shape: {}",
            truncate(text.trim(), 200)
        ),
    }
}

/// Reads one HTTP answer from Scale.
pub fn interpret(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    retry_after: Option<&str>,
) -> Result<Value, ScaleError> {
    if !(200..300).contains(&status) {
        return Err(http_error(status, body, retry_after));
    }
    match parse(body) {
        Some(v) => Ok(v),
        None => {
            let text = String::from_utf8_lossy(body);
            if text.trim().eq_ignore_ascii_case("ok") || text.trim().is_empty() {
                return Ok(Value::Null);
            }
            Err(ScaleError::BadBody {
                status,
                detail: format!(
                    "Scale answered {status} with a body that is not JSON ({}): {}",
                    content_type.unwrap_or("no content type"),
                    truncate(text.trim(), 200)
                ),
            })
        }
    }
}

/// `body` as JSON, if it is.
fn parse(body: &[u8]) -> Option<Value> {
    // Through `from_str`, the reader every other parse uses: a second
    // reader type (`from_slice`) would compile serde_json's parser twice.
    std::str::from_utf8(body)
        .ok()
        .and_then(|t| serde_json::from_str(t).ok())
}

/// The error of a non-2xx answer: Scale's `error` (or `message`) field,
/// else its text, and its `Retry-After` in seconds.
pub fn http_error(status: u16, body: &[u8], retry_after: Option<&str>) -> ScaleError {
    let parsed = parse(body);
    let text = String::from_utf8_lossy(body);
    // Scale's own text is cut like any other: it can be as long as the body.
    let message = match &parsed {
        Some(Value::Object(o)) => o
            .get("error")
            .or_else(|| o.get("message"))
            .map(|e| match e.as_str() {
                Some(s) => truncate(s.trim(), 300),
                None => truncate(&e.to_string(), 300),
            })
            .unwrap_or_else(|| truncate(&text, 300)),
        _ => truncate(text.trim(), 300),
    };
    let retry_after = retry_after.and_then(|r| r.trim().parse::<u32>().ok());
    ScaleError::Http {
        status,
        message,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // ---------------------------------------------------------------- interpret

    #[test]
    fn interpret_2xx_answers() {
        assert_eq!(
            interpret(200, Some("application/json"), br#"{"a":1}"#, None),
            Ok(json!({"a": 1}))
        );
        assert_eq!(interpret(201, None, b"[1,2]", None), Ok(json!([1, 2])));
        assert_eq!(
            interpret(200, Some("text/plain"), b"OK", None),
            Ok(Value::Null)
        );
        assert_eq!(
            interpret(200, Some("text/plain"), b" ok\n", None),
            Ok(Value::Null)
        );
        assert_eq!(interpret(204, None, b"", None), Ok(Value::Null));
        assert_eq!(interpret(200, None, b"  \n", None), Ok(Value::Null));

        match interpret(200, Some("text/html"), b"<html>hello</html>", None) {
            Err(ScaleError::BadBody { status, detail }) => {
                assert_eq!(status, 200);
                assert!(detail.contains("not JSON (text/html)"), "{detail}");
                assert!(detail.contains("<html>hello</html>"), "{detail}");
            }
            other => panic!("expected BadBody, got {other:?}"),
        }
        match interpret(
            200,
            Some("application/json"),
            br#"{"task_id": "a", "sta"#,
            None,
        ) {
            Err(ScaleError::BadBody {
                status: 200,
                detail,
            }) => {
                assert!(detail.contains("application/json"), "{detail}")
            }
            other => panic!("expected BadBody, got {other:?}"),
        }
        match interpret(200, None, b"nope", None) {
            Err(ScaleError::BadBody { detail, .. }) => {
                assert!(detail.contains("no content type"), "{detail}")
            }
            other => panic!("expected BadBody, got {other:?}"),
        }
    }

    #[test]
    fn interpret_error_bodies() {
        assert_eq!(
            interpret(
                404,
                Some("application/json"),
                br#"{"status_code": 404, "error": "Task with that ID not found."}"#,
                None
            ),
            Err(ScaleError::Http {
                status: 404,
                message: "Task with that ID not found.".into(),
                retry_after: None
            })
        );
        // `message` is the fallback key; a non-string error is quoted as JSON.
        assert_eq!(
            http_message(interpret(400, None, br#"{"message": "bad field"}"#, None)),
            "bad field"
        );
        assert_eq!(
            http_message(interpret(400, None, br#"{"error": {"field": "x"}}"#, None)),
            r#"{"field":"x"}"#
        );
        // Non-JSON bodies are quoted trimmed; long ones are cut.
        assert_eq!(
            http_message(interpret(
                502,
                Some("text/html"),
                b"  <h1>Bad gateway</h1>\n",
                None
            )),
            "<h1>Bad gateway</h1>"
        );
        let long = "x".repeat(1000);
        let m = http_message(interpret(500, None, long.as_bytes(), None));
        assert_eq!(m.chars().count(), 301);
        assert!(m.ends_with('…'));
        assert_eq!(http_message(interpret(503, None, b"", None)), "");
        // Scale's own `error` and `message` strings are cut too.
        for key in ["error", "message"] {
            let body = json!({ key: "e".repeat(5000) }).to_string();
            let m = http_message(interpret(400, None, body.as_bytes(), None));
            assert_eq!(m.chars().count(), 301, "{key}");
            assert!(m.ends_with('…'));
        }
        let nested = json!({"error": {"detail": "d".repeat(5000)}}).to_string();
        assert_eq!(
            http_message(interpret(422, None, nested.as_bytes(), None))
                .chars()
                .count(),
            301
        );
    }

    fn http_message(r: Result<Value, ScaleError>) -> String {
        match r {
            Err(ScaleError::Http { message, .. }) => message,
            other => panic!("expected Http error, got {other:?}"),
        }
    }

    #[test]
    fn interpret_reads_retry_after_seconds() {
        let ra = |h: Option<&str>| match interpret(429, None, b"{}", h) {
            Err(ScaleError::Http { retry_after, .. }) => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(ra(Some("7")), Some(7));
        assert_eq!(ra(Some(" 12 ")), Some(12));
        assert_eq!(ra(Some("0")), Some(0));
        assert_eq!(ra(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(ra(Some("-1")), None);
        assert_eq!(ra(Some("1.5")), None);
        assert_eq!(ra(None), None);
    }
}
