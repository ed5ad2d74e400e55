//! The callback log as MCP resources: recent deliveries in `resources/list`,
//! one URI template, and `resources/read` returning a stored delivery as JSON.

use super::{get, ListError, LogQuery};
use crate::mcp::rpc::{self, RpcError};
use crate::mcp::Lane;
use crate::tools::Ctx;
use serde_json::{json, Map, Value};

pub const URI_PREFIX: &str = "scale-callback://deliveries/";
/// Deliveries per resources/list page.
const PAGE: usize = 50;

fn uri(id: &str) -> String {
    format!("{URI_PREFIX}{id}")
}

pub fn templates() -> Value {
    json!({"resourceTemplates": [{
        "uriTemplate": format!("{URI_PREFIX}{{id}}"),
        "name": "callback-delivery",
        "title": "Scale callback delivery",
        "description": "One callback Scale delivered to this server's /webhooks/scale, by its id (from list_callbacks or resources/list).",
        "mimeType": "application/json",
    }]})
}

pub async fn list(
    cx: &Ctx<'_>,
    params: &Map<String, Value>,
    lane: Lane,
) -> Result<Value, RpcError> {
    let cursor = match params.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(RpcError::invalid_params("invalid cursor")),
    };
    let Some(store) = cx.store else {
        if cursor.is_some() {
            return Err(RpcError::invalid_params("invalid cursor"));
        }
        return Ok(json!({"resources": []}));
    };
    let q = LogQuery {
        limit: PAGE,
        cursor,
        ..Default::default()
    };
    let page = match super::list(store, &q).await {
        Ok(p) => p,
        Err(ListError::BadCursor) => return Err(RpcError::invalid_params("invalid cursor")),
        Err(ListError::Store(e)) => {
            return Err(RpcError::new(
                rpc::INTERNAL_ERROR,
                format!(
                    "the callback log could not be read: {}",
                    crate::json::truncate(&e, 200)
                ),
            ))
        }
    };
    let resources: Vec<Value> = page
        .items
        .iter()
        .map(|m| {
            let id = m.get("id").and_then(Value::as_str).unwrap_or("");
            let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            let subject = match s("kind").as_str() {
                "task" => format!("task {}", s("task_id")),
                "batch" => format!("batch {}", s("batch")),
                _ => "callback".into(),
            };
            json!({
                "uri": uri(id),
                "name": id,
                "title": format!("{subject}: {} ({})", s("status"), s("received_at")),
                "mimeType": "application/json",
            })
        })
        .collect();
    let mut out = json!({"resources": resources});
    if let Some(c) = page.next_cursor {
        out["nextCursor"] = json!(c);
    }
    // The log changes with every delivery, so clients should not keep it long.
    if lane == Lane::Modern {
        out["ttlMs"] = json!(0);
        out["cacheScope"] = json!("private");
    }
    Ok(out)
}

pub async fn read(
    cx: &Ctx<'_>,
    params: &Map<String, Value>,
    lane: Lane,
) -> Result<Value, RpcError> {
    let u = params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("params.uri must be a string"))?;
    let not_found = || {
        let code = if lane == Lane::Modern {
            rpc::INVALID_PARAMS
        } else {
            rpc::RESOURCE_NOT_FOUND
        };
        RpcError::new(
            code,
            format!("resource not found: {}", crate::json::truncate(u, 120)),
        )
        .with_data(json!({"uri": u}))
    };
    let Some(id) = u.strip_prefix(URI_PREFIX) else {
        return Err(not_found());
    };
    let Some(store) = cx.store else {
        return Err(RpcError::new(
            rpc::INTERNAL_ERROR,
            "the CALLBACKS KV namespace is not bound, so there is no callback log",
        ));
    };
    match get(store, id).await {
        Ok(Some(v)) => {
            let mut out = json!({"contents": [{"uri": u, "mimeType": "application/json", "text": v.to_string()}]});
            if lane == Lane::Modern {
                // A stored delivery never changes.
                out["ttlMs"] = json!(86_400_000);
                out["cacheScope"] = json!("private");
            }
            Ok(out)
        }
        Ok(None) => Err(not_found()),
        Err(e) => Err(RpcError::new(
            rpc::INTERNAL_ERROR,
            format!(
                "the callback log could not be read: {}",
                crate::json::truncate(&e, 200)
            ),
        )),
    }
}
