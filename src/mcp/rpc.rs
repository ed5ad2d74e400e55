//! JSON-RPC 2.0 messages as MCP uses them: classifying what arrived, error
//! codes, and writing responses around results that are already serialised.

use super::model::{Envelope, ErrorObject, JSONRPC};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Legacy lane only; the modern lane uses -32602 for a missing resource.
pub const RESOURCE_NOT_FOUND: i64 = -32002;
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request lacks a client capability the method needs
/// (`data.requiredCapabilities` names it).
pub const MISSING_CAPABILITY: i64 = -32021;
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// Longest string id we echo back; a longer one is an invalid request.
pub const MAX_ID_LEN: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
    /// The HTTP status to answer with when this is the only message.
    pub http_status: u16,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        let http_status = match code {
            PARSE_ERROR | INVALID_REQUEST | HEADER_MISMATCH | MISSING_CAPABILITY
            | UNSUPPORTED_VERSION => 400,
            _ => 200,
        };
        Self {
            code,
            message: message.into(),
            data: None,
            http_status,
        }
    }
    pub fn with_status(mut self, s: u16) -> Self {
        self.http_status = s;
        self
    }
    pub fn with_data(mut self, d: Value) -> Self {
        self.data = Some(d);
        self
    }
    /// A request that needs a client capability it did not declare
    /// (`-32021`, HTTP 400): `required`, JSON text, is the error's `data`.
    pub fn missing_capability(message: String, required: &str) -> Self {
        Self::new(MISSING_CAPABILITY, message)
            .with_data(serde_json::from_str(required).unwrap_or_default())
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }
    fn object(&self) -> ErrorObject<'_> {
        ErrorObject {
            code: self.code,
            message: &self.message,
            data: self.data.as_ref(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// A result, serialised: built for this request, or cached for the isolate.
pub type Payload = Cow<'static, RawValue>;

/// Serialises a result object (the types of [`super::model`]).
pub fn payload<T: serde::Serialize>(result: &T) -> Payload {
    // Serialising our own types cannot fail; an empty object keeps the answer valid JSON.
    Cow::Owned(serde_json::value::to_raw_value(result).unwrap_or_else(|_| empty()))
}

fn empty() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("valid JSON")
}

/// One message of a POST body, classified.
#[derive(Debug)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Map<String, Value>,
    },
    Notification,
    /// A response from the client (to a server request we never send); accepted and ignored.
    Response,
    /// Not a valid message: answer this error with this id (null when unknown).
    Invalid {
        id: Value,
        error: RpcError,
    },
}

fn valid_id(id: &Value) -> Result<(), &'static str> {
    match id {
        Value::String(s) if s.len() <= MAX_ID_LEN => Ok(()),
        Value::String(_) => Err("id is too long (at most 256 characters)"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
        Value::Number(_) => Err("id must be a string or an integer"),
        Value::Null => Err("id must not be null"),
        _ => Err("id must be a string or an integer"),
    }
}

/// The id of a body that is one message with a valid id, else null: errors
/// found before the message is classified still answer that request.
pub fn request_id(body: &Value) -> Value {
    match body.get("id") {
        Some(id) if valid_id(id).is_ok() => id.clone(),
        _ => Value::Null,
    }
}

pub fn classify(msg: Value) -> Incoming {
    let invalid = |id: Value, m: &str| Incoming::Invalid {
        id,
        error: RpcError::new(INVALID_REQUEST, m),
    };
    // Taken apart rather than borrowed: params move into the request uncopied.
    let Value::Object(mut obj) = msg else {
        return invalid(Value::Null, "each JSON-RPC message must be an object");
    };
    let id = obj.remove("id").map(|i| valid_id(&i).map(|()| i));
    let echo_id = match &id {
        Some(Ok(i)) => i.clone(),
        _ => Value::Null,
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(echo_id, "`jsonrpc` must be \"2.0\"");
    }
    match obj.remove("method") {
        Some(Value::String(method)) => {
            let params = match obj.remove("params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m,
                Some(_) if id.is_none() => return Incoming::Notification,
                Some(_) => {
                    return Incoming::Invalid {
                        id: echo_id,
                        error: RpcError::invalid_params("`params` must be an object"),
                    }
                }
            };
            match id {
                None => Incoming::Notification,
                Some(Ok(id)) => Incoming::Request { id, method, params },
                Some(Err(m)) => invalid(Value::Null, m),
            }
        }
        Some(_) => invalid(echo_id, "`method` must be a string"),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            Incoming::Response
        }
        None => invalid(echo_id, "a request needs a `method`"),
    }
}

/// Serialises one response; the result is copied in as it is.
pub fn write_response(out: &mut Vec<u8>, id: &Value, result: &Result<Payload, RpcError>) {
    let env = match result {
        Ok(r) => Envelope {
            jsonrpc: JSONRPC,
            id,
            result: Some(r),
            error: None,
        },
        Err(e) => Envelope {
            jsonrpc: JSONRPC,
            id,
            result: None,
            error: Some(e.object()),
        },
    };
    // Writing into a Vec fails only on a serialiser error, which our types cannot cause.
    let _ = serde_json::to_writer(out, &env);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_messages() {
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
            Incoming::Request { .. }
        ));
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Incoming::Notification
        ));
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","id":"x","result":{}})),
            Incoming::Response
        ));
        for bad in [
            json!([1]),
            json!({"id":1,"method":"ping"}),
            json!({"jsonrpc":"1.0","id":1,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":{},"method":"ping"}),
            json!({"jsonrpc":"2.0","id":"x".repeat(300),"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1,"method":7}),
            json!({"jsonrpc":"2.0","id":1}),
        ] {
            match classify(bad.clone()) {
                Incoming::Invalid { error, .. } => assert_eq!(error.code, INVALID_REQUEST, "{bad}"),
                other => panic!("{bad} gave {other:?}"),
            }
        }
        match classify(json!({"jsonrpc":"2.0","id":3,"method":"ping","params":[1]})) {
            Incoming::Invalid { id, error } => {
                assert_eq!(id, json!(3));
                assert_eq!(error.code, INVALID_PARAMS);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_are_echoed_exactly() {
        let mut s = Vec::new();
        write_response(
            &mut s,
            &json!(u64::MAX),
            &Ok(payload(&super::super::model::EmptyResult {})),
        );
        assert_eq!(
            String::from_utf8(s).unwrap(),
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"result":{}}"#
        );
        let mut s = Vec::new();
        write_response(
            &mut s,
            &json!("a\"b"),
            &Err(RpcError::new(METHOD_NOT_FOUND, "nope")),
        );
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["id"], "a\"b");
        assert_eq!(v["error"]["code"], -32601);
    }
}
