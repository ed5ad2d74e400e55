//! The two protocol eras a request may speak, and what sets them apart:
//! which lane a request is on ([`lane_of`], from its `MCP-Protocol-Version`
//! header or its `_meta`), the modern lane's per-request rules
//! ([`check_modern`]), and what each lane adds to a result (the server's
//! identity, how long a list may be cached). The transport ([`super`]),
//! the methods and the resources all read it; it reads none of them.

use super::model::{Implementation, Meta, Modern};
use super::rpc::{self, RpcError};
use crate::codec::decode_header_value as decode_header;
use crate::http::Request as HttpIn;
use crate::json::{object, truncate};
use serde_json::{Map, Value};

pub const MODERN_VERSION: &str = "2026-07-28";
/// Newest first; `initialize` answers the first when it cannot echo the client's.
pub const LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// What a request without `MCP-Protocol-Version` is taken to speak.
pub const DEFAULT_LEGACY_VERSION: &str = "2025-03-26";
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CAPS: &str = "io.modelcontextprotocol/clientCapabilities";

/// What a request declares for the extension `name` in its client
/// capabilities: `_meta[META_CAPS].extensions[name]`.
pub fn extension<'p>(params: &'p Map<String, Value>, name: &str) -> Option<&'p Value> {
    params
        .get("_meta")?
        .get(META_CAPS)?
        .get("extensions")?
        .get(name)
}

/// The modern version, then the legacy ones; a constant rather than a vector
/// collected at each call, which took more code than the five strings.
const SUPPORTED_VERSIONS: [&str; 5] = [
    MODERN_VERSION,
    LEGACY_VERSIONS[0],
    LEGACY_VERSIONS[1],
    LEGACY_VERSIONS[2],
    LEGACY_VERSIONS[3],
];

pub fn supported_versions() -> &'static [&'static str] {
    &SUPPORTED_VERSIONS
}

pub const SERVER_NAME: &str = "scale-mcp-worker";
pub const SERVER_TITLE: &str = "Scale AI";
/// How long a client may cache list results (the lists change only on deploy).
pub const LIST_TTL_MS: u64 = 3_600_000;

/// The server's identity: `serverInfo` of `initialize` and `server/discover`,
/// and in `_meta` of every result on the modern lane.
pub const SERVER_INFO: Implementation = Implementation {
    name: SERVER_NAME,
    title: SERVER_TITLE,
    version: crate::VERSION,
};

/// The protocol era one request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// The version the request is taken to speak (from the header or the default).
    Legacy(&'static str),
    Modern,
}

impl Lane {
    /// What the lane adds to a result: on the modern lane `resultType` and
    /// the server's identity in `_meta`; nothing on the legacy lane.
    pub fn result_fields(self) -> Modern {
        match self {
            Lane::Legacy(_) => Modern::default(),
            Lane::Modern => Modern {
                result_type: Some("complete"),
                meta: Some(Meta {
                    server_info: Some(SERVER_INFO),
                    ..Meta::default()
                }),
                ttl_ms: None,
                cache_scope: None,
            },
        }
    }

    /// What the lane adds to a list result: [`Lane::result_fields`], and on
    /// the modern lane how long any client may cache the list.
    pub fn list_fields(self) -> Modern {
        let mut m = self.result_fields();
        if self == Lane::Modern {
            m.ttl_ms = Some(LIST_TTL_MS);
            m.cache_scope = Some("public");
        }
        m
    }
}

/// Decides the lane from the `MCP-Protocol-Version` header, or, without it,
/// from whether the body carries modern `_meta`.
pub fn lane_of(header: Option<&str>, body: &Value) -> Result<Lane, RpcError> {
    let header = header.map(str::trim);
    let body_version = body
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_VERSION));
    // A request naming two different versions is a header mismatch, whichever
    // of them we support, so the two are compared before either is judged.
    if let (Some(h), Some(Value::String(b))) = (header, body_version) {
        if h != b {
            return Err(RpcError::new(
                rpc::HEADER_MISMATCH,
                "MCP-Protocol-Version header does not match params._meta protocol version",
            ));
        }
    }
    match header {
        Some(MODERN_VERSION) => Ok(Lane::Modern),
        Some(v) => match LEGACY_VERSIONS.iter().find(|s| **s == v) {
            Some(s) => Ok(Lane::Legacy(s)),
            None => Err(unsupported_version(v)),
        },
        None if body_version.is_some() => Ok(Lane::Modern),
        None => Ok(Lane::Legacy(DEFAULT_LEGACY_VERSION)),
    }
}

pub fn unsupported_version(requested: &str) -> RpcError {
    RpcError::new(
        rpc::UNSUPPORTED_VERSION,
        format!(
            "unsupported protocol version `{}`; supported: {}",
            truncate(requested, 40),
            supported_versions().join(", ")
        ),
    )
    .with_data(object(vec![
        ("supported", Value::from(supported_versions())),
        ("requested", Value::from(requested)),
    ]))
}

/// The modern lane's per-request rules: `_meta` present and consistent with
/// the headers, which must name the method (and the tool or resource).
pub fn check_modern(
    req: &HttpIn,
    method: &str,
    params: &Map<String, Value>,
) -> Result<(), RpcError> {
    let header_version = req.header("mcp-protocol-version").map(str::trim);
    let Some(header_version) = header_version else {
        return Err(mismatch(
            "the MCP-Protocol-Version header is required on every request",
        ));
    };
    let meta = params.get("_meta").and_then(Value::as_object);
    let Some(meta) = meta else {
        return Err(RpcError::invalid_params(format!(
            "params._meta with `{META_VERSION}` and `{META_CAPS}` is required"
        ))
        .with_status(400));
    };
    let Some(body_version) = meta.get(META_VERSION).and_then(Value::as_str) else {
        return Err(RpcError::invalid_params(format!(
            "params._meta[\"{META_VERSION}\"] must be a string"
        ))
        .with_status(400));
    };
    if !meta.get(META_CAPS).is_some_and(Value::is_object) {
        return Err(RpcError::invalid_params(format!(
            "params._meta[\"{META_CAPS}\"] must be an object"
        ))
        .with_status(400));
    }
    // The transport compares header and body first; this stays for callers
    // that check a message on its own.
    if body_version != header_version {
        return Err(mismatch(
            "MCP-Protocol-Version header does not match params._meta protocol version",
        ));
    }
    match req.header("mcp-method").map(decode_header) {
        None => return Err(mismatch("the Mcp-Method header is required")),
        Some(m) if m.as_deref() != Some(method) => {
            return Err(mismatch(
                "Mcp-Method header does not match the request's method",
            ))
        }
        _ => {}
    }
    let name_field = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    if let Some(field) = name_field {
        let body_name = params.get(field).and_then(Value::as_str);
        match req.header("mcp-name").map(decode_header) {
            None => return Err(mismatch("the Mcp-Name header is required for this method")),
            Some(n) if n.as_deref() != body_name => {
                return Err(mismatch(format!(
                    "Mcp-Name header does not match params.{field}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn mismatch(m: impl Into<String>) -> RpcError {
    RpcError::new(rpc::HEADER_MISMATCH, m)
}

#[cfg(test)]
mod modern_checks {
    use super::*;
    use serde_json::json;

    fn req(version: &str) -> HttpIn {
        HttpIn {
            method: "POST".into(),
            path: "/mcp".into(),
            headers: vec![
                ("mcp-protocol-version".into(), version.into()),
                ("mcp-method".into(), "tools/list".into()),
            ],
            ..Default::default()
        }
    }

    fn params(version: &str) -> Map<String, Value> {
        json!({"_meta": {META_VERSION: version, META_CAPS: {}}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn body_and_header_versions() {
        assert!(check_modern(&req(MODERN_VERSION), "tools/list", &params(MODERN_VERSION)).is_ok());
        // Header and body disagree: a mismatch, whether or not we support the body's version.
        for body in ["2025-11-25", "2099-01-01"] {
            let e = check_modern(&req(MODERN_VERSION), "tools/list", &params(body)).unwrap_err();
            assert_eq!(e.code, rpc::HEADER_MISMATCH, "{body}");
        }
    }
}
