//! The callback log as MCP resources: recent deliveries in `resources/list`,
//! one URI template, and `resources/read` returning a stored delivery as JSON
//! (as stored, or cut at the result limit with a note saying so).
//!
//! They show what `list_callbacks` and `get_callback` show, to whom those
//! tools are offered: a connection whose tool lists leave out
//! `list_callbacks` lists no resources, one without `get_callback` reads
//! none, and a connection confined to projects sees only their deliveries.

use super::results::modern;
use super::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceTemplate, TextResourceContents,
};
use super::rpc::{self, payload, Payload, RpcError};
use super::Lane;
use crate::auth::Scope;
use crate::callback_log::{self, ListError, LogQuery};
use crate::context::Ctx;
use crate::json::truncate;
use crate::tools::callbacks::fit_entry;
use crate::tools::guard::refusal;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

pub const URI_PREFIX: &str = "scale-callback://deliveries/";
/// Deliveries per resources/list page.
const PAGE: usize = 50;

pub fn templates(lane: Lane) -> Payload {
    payload(&ListResourceTemplatesResult::new(
        vec![ResourceTemplate {
            uri_template: format!("{URI_PREFIX}{{id}}"),
            name: "callback-delivery",
            title: "Scale callback delivery",
            description: "One callback Scale delivered to this server's /webhooks/scale, by its id (from list_callbacks or resources/list).",
            mime_type: "application/json",
        }],
        modern(lane, true),
    ))
}

fn store_error(e: &str) -> RpcError {
    RpcError::new(
        rpc::INTERNAL_ERROR,
        format!("the callback log could not be read: {}", truncate(e, 200)),
    )
}

/// Whether the view lets the log be read as resources the way `tool` reads
/// it; the refusal is the tool's.
fn readable(cx: &Ctx, tool: &str) -> Result<(), RpcError> {
    let view = cx.view();
    view.permits(Scope::Read)
        .and_then(|()| view.tool_listed(tool))
        .map_err(|r| RpcError::invalid_params(refusal(cx.identity().principal(), tool, r).message))
}

pub async fn list(cx: &Ctx, params: &Map<String, Value>, lane: Lane) -> Result<Payload, RpcError> {
    let cursor = match params.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(RpcError::invalid_params("invalid cursor")),
    };
    // Clients list resources on connecting: a connection without the log's
    // tools gets an empty list rather than an error.
    let store = cx
        .identity()
        .callbacks()
        .filter(|_| readable(cx, "list_callbacks").is_ok());
    let (resources, next_cursor) = match store {
        None if cursor.is_some() => return Err(RpcError::invalid_params("invalid cursor")),
        None => (Vec::new(), None),
        Some(store) => {
            let q = LogQuery {
                limit: PAGE,
                cursor,
                projects: cx.view().projects().map(|p| p.names.clone()),
                ..Default::default()
            };
            let page = match callback_log::list(store, &q).await {
                Ok(p) => p,
                Err(ListError::BadCursor) => {
                    return Err(RpcError::invalid_params("invalid cursor"))
                }
                Err(ListError::Store(e)) => return Err(store_error(&e)),
            };
            let resources = page.items.iter().map(resource).collect();
            (resources, page.next_cursor)
        }
    };
    let mut m = modern(lane, true);
    // The log changes with every delivery, so clients should not keep it long.
    if lane == Lane::Modern {
        m.ttl_ms = Some(0);
        m.cache_scope = Some("private");
    }
    Ok(payload(&ListResourcesResult::new(
        resources,
        next_cursor,
        m,
    )))
}

/// A listed delivery (its key's metadata) as a resource.
fn resource(m: &Value) -> Resource {
    let id = m.get("id").and_then(Value::as_str).unwrap_or("");
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("-");
    let subject = match s("kind") {
        "task" => format!("task {}", s("task_id")),
        "batch" => format!("batch {}", s("batch")),
        _ => "callback".into(),
    };
    Resource {
        uri: format!("{URI_PREFIX}{id}"),
        name: id.to_string(),
        title: format!("{subject}: {} ({})", s("status"), s("received_at")),
        mime_type: "application/json",
    }
}

pub async fn read(cx: &Ctx, params: &Map<String, Value>, lane: Lane) -> Result<Payload, RpcError> {
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
        RpcError::new(code, format!("resource not found: {}", truncate(u, 120)))
            .with_data(json!({"uri": u}))
    };
    let Some(id) = u.strip_prefix(URI_PREFIX) else {
        return Err(not_found());
    };
    readable(cx, "get_callback")?;
    let Some(store) = cx.identity().callbacks() else {
        return Err(RpcError::new(
            rpc::INTERNAL_ERROR,
            "the CALLBACKS KV namespace is not bound, so there is no callback log",
        ));
    };
    let view = cx.view();
    let in_scope = |text: &str| {
        view.projects().is_none()
            || callback_log::project_in_entry(text).is_some_and(|p| view.allows_project(&p))
    };
    match callback_log::get(store, id).await {
        // Outside the connection's projects, a delivery reads as a missing one.
        Ok(Some(text)) if in_scope(&text) => {
            let entry = RawValue::from_string(text)
                .map_err(|e| store_error(&format!("the stored entry is not JSON: {e}")))?;
            let mut m = modern(lane, false);
            if lane == Lane::Modern {
                // A stored delivery never changes.
                m.ttl_ms = Some(86_400_000);
                m.cache_scope = Some("private");
            }
            let fitted = fit_entry(entry);
            let contents = [TextResourceContents {
                uri: u,
                mime_type: "application/json",
                text: fitted.get(),
            }];
            Ok(payload(&ReadResourceResult::new(contents, m)))
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_error(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawSettings};
    use crate::io::fakes::{block_on, services, FakeUpstream, MemoryStore};
    use crate::io::CallbackStore;

    #[test]
    fn reading_a_large_delivery_cuts_it_at_the_result_limit() {
        let store = MemoryStore::new();
        let body = json!({"task_id": "t1", "response": "x".repeat(300_000)}).to_string();
        let entry = format!(
            r#"{{"id":"1-a","received_at":"2026-01-01T00:00:00.000Z","kind":"task","body":{body}}}"#
        );
        block_on(store.put("log:1-a", &entry, 60, &json!({}))).unwrap();
        let cfg = Config::from_raw(&RawSettings::default()).unwrap();
        let cx = Ctx::full_access(cfg, services(&FakeUpstream::new(), Some(&store)));
        let params = json!({"uri": format!("{URI_PREFIX}1-a")});
        let out = block_on(read(
            &cx,
            params.as_object().unwrap(),
            Lane::Legacy("2025-06-18"),
        ))
        .unwrap();
        let v: Value = serde_json::from_str(out.get()).unwrap();
        let text = v["contents"][0]["text"].as_str().unwrap();
        assert!(
            text.len() <= crate::tools::shape::MAX_TEXT_BYTES,
            "{}",
            text.len()
        );
        let e: Value = serde_json::from_str(text).unwrap();
        assert_eq!(e["id"], "1-a");
        assert!(body.starts_with(e["body"].as_str().unwrap()));
        assert!(e["truncated"]["how_to_get_full_items"]
            .as_str()
            .unwrap()
            .contains("`body` is the beginning"));
    }
}
