//! The callback log as MCP resources: recent deliveries in `resources/list`,
//! one URI template, and `resources/read` returning a stored delivery as JSON
//! (as stored, or cut at the result limit with a note saying so).
//!
//! The first page of `resources/list` also names the annotation view's
//! `ui://` document to a connection that gets it ([`apps::listed`]), and
//! `resources/read` answers it to anyone.
//!
//! They show what `list_callbacks` and `get_callback` show, to whom those
//! tools are offered: a connection whose tool lists leave out
//! `list_callbacks` lists no resources, one without `get_callback` reads
//! none, and a connection confined to projects sees only their deliveries.
//! A delivery is read through [`tools::read_log_entry`], exactly as
//! `get_callback` reads it.

use super::apps;
use super::lane::Lane;
use super::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceTemplate, TextResourceContents,
};
use super::rpc::{self, payload, Payload, RpcError};
use crate::auth::Scope;
use crate::callback_log::{self, ListError, LogQuery};
use crate::context::Ctx;
use crate::json::{object, truncate};
use crate::tools::{self, LogReadError};
use serde_json::{Map, Value};

pub const URI_PREFIX: &str = "scale-callback://deliveries/";
/// The resources that hold a job's pages of outcomes (`tasks`' job tasks).
pub const JOB_URI: &str = "scale-job://outcomes/";
/// Deliveries per resources/list page.
const PAGE: usize = 50;

pub fn templates(lane: Lane) -> Payload {
    payload(&ListResourceTemplatesResult::new(
        vec![
            ResourceTemplate {
                uri_template: format!("{URI_PREFIX}{{id}}"),
                name: "callback-delivery",
                title: "Scale callback delivery",
                description: "One callback Scale delivered to this server's /webhooks/scale, by its id (from list_callbacks or resources/list).",
                mime_type: "application/json",
            },
            ResourceTemplate {
                uri_template: format!("{JOB_URI}{{taskId}}{{?after}}"),
                name: "job-outcomes",
                title: "A create_tasks job's outcomes",
                description: "A page of the outcomes of a job (create_tasks with items_url) by line, after line `after`: the next page a job's result or page names in next_after.",
                mime_type: "application/json",
            },
        ],
        lane.list_fields(),
    ))
}

fn store_error(e: &str) -> RpcError {
    RpcError::new(
        rpc::INTERNAL_ERROR,
        format!("the callback log could not be read: {}", truncate(e, 200)),
    )
}

/// Whether the view lets the log be listed as resources: when it would
/// let `list_callbacks` read it.
fn listable(cx: &Ctx) -> bool {
    let view = cx.view();
    view.permits(Scope::Read)
        .and_then(|()| view.tool_listed("list_callbacks"))
        .is_ok()
}

pub async fn list(cx: &Ctx, params: &Map<String, Value>, lane: Lane) -> Result<Payload, RpcError> {
    let cursor = match params.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(RpcError::invalid_params("invalid cursor")),
    };
    // Clients list resources on connecting: a connection without the log's
    // tools gets an empty list rather than an error.
    let store = cx.identity().callbacks().filter(|_| listable(cx));
    let mut resources = if cursor.is_none() && apps::listed(cx, apps::wanted(lane, params)) {
        vec![apps::resource()]
    } else {
        Vec::new()
    };
    let next_cursor = match store {
        None if cursor.is_some() => return Err(RpcError::invalid_params("invalid cursor")),
        None => None,
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
            resources.extend(page.items.iter().map(resource));
            page.next_cursor
        }
    };
    let mut m = lane.list_fields();
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

/// The annotation view's document, for any connection: it holds no data.
fn view(lane: Lane) -> Payload {
    let contents = [TextResourceContents {
        uri: apps::URI,
        mime_type: apps::MIME,
        text: apps::HTML,
        meta: Some(apps::resource_meta()),
    }];
    // Cached as a list is: it changes only with a deploy.
    payload(&ReadResourceResult::new(contents, lane.list_fields()))
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
            .with_data(object(vec![("uri", Value::from(u))]))
    };
    if u == apps::URI {
        return Ok(view(lane));
    }
    let Some(id) = u.strip_prefix(URI_PREFIX) else {
        return Err(not_found());
    };
    let entry = match tools::read_log_entry(cx, id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return Err(not_found()),
        Err(LogReadError::Refused(refusal)) => return Err(RpcError::invalid_params(refusal)),
        Err(LogReadError::NoLog) => {
            return Err(RpcError::new(
                rpc::INTERNAL_ERROR,
                "the CALLBACKS KV namespace is not bound, so there is no callback log",
            ))
        }
        Err(LogReadError::Store(e)) => return Err(store_error(&e)),
    };
    let mut m = lane.result_fields();
    if lane == Lane::Modern {
        // A stored delivery never changes.
        m.ttl_ms = Some(86_400_000);
        m.cache_scope = Some("private");
    }
    let contents = [TextResourceContents {
        uri: u,
        mime_type: "application/json",
        text: entry.get(),
        meta: None,
    }];
    Ok(payload(&ReadResourceResult::new(contents, m)))
}

/// A `resources/read` answer of one JSON document at `uri`.
pub fn json_contents(uri: &str, text: &str, lane: Lane) -> Payload {
    let contents = [TextResourceContents {
        uri,
        mime_type: "application/json",
        text,
        meta: None,
    }];
    payload(&ReadResourceResult::new(contents, lane.result_fields()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawSettings};
    use crate::io::fakes::{block_on, services, FakeUpstream, MemoryStore};
    use crate::io::CallbackStore;
    use serde_json::json;

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
