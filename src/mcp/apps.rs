//! The annotation view as an MCP App (the `io.modelcontextprotocol/ui`
//! extension, specification 2026-01-26; docs/annotation-view.md): its
//! `ui://` resource, the `_meta` that ties `get_task` and `wait_for_task` to
//! it and marks `get_task_attachment` as the view's own, and who gets them.
//!
//! On the legacy lane a request carries no capabilities, so every client
//! gets them (hosts without the extension ignore `_meta`). On 2026-07-28
//! they go only to a request that declares the extension in its client
//! capabilities, as the specification's "Client<>Server Capability
//! Negotiation" asks: `extensions["io.modelcontextprotocol/ui"].mimeTypes`
//! naming [`MIME`].

use super::lane::{extension, Lane};
use super::model::Resource;
use super::rpc::RpcError;
use crate::tools::{self, Offer, Ui};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
pub const URI: &str = "ui://scale-mcp/task-annotations";
pub const MIME: &str = "text/html;profile=mcp-app";
/// The whole view: one document, its script and style inline. The release
/// build includes it minified (scripts/minify-view.mjs, chosen by build.rs);
/// other builds include src/view/annotations.html as it is.
pub const HTML: &str = include_str!(env!("SCALE_VIEW_HTML_PATH"));

/// `_meta` of the view's `resources/read` contents: no outside domain at
/// all (the image comes through `get_task_attachment` as a `data:` URL).
const RESOURCE_META: &str =
    r#"{"ui":{"csp":{"connectDomains":[],"resourceDomains":[]},"prefersBorder":true}}"#;
/// `_meta` of a tool whose results open the view, in the nested form and
/// the older flat one that some hosts still read.
const OPENS_META: &str = r#"{"ui":{"resourceUri":"ui://scale-mcp/task-annotations"},"ui/resourceUri":"ui://scale-mcp/task-annotations"}"#;
/// `_meta` of the view's own tool: hosts keep it from the model.
const APP_ONLY_META: &str =
    r#"{"ui":{"resourceUri":"ui://scale-mcp/task-annotations","visibility":["app"]}}"#;
/// What `server/discover` and `initialize` advertise as `extensions`.
const EXTENSIONS: &str =
    r#"{"io.modelcontextprotocol/ui":{"mimeTypes":["text/html;profile=mcp-app"]}}"#;
/// The `data` of the missing capability error.
const REQUIRED: &str = r#"{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/ui":{"mimeTypes":["text/html;profile=mcp-app"]}}}}"#;

fn raw(text: &'static str) -> &'static RawValue {
    serde_json::from_str(text).expect("valid JSON")
}

pub fn resource_meta() -> &'static RawValue {
    raw(RESOURCE_META)
}

pub fn extensions() -> &'static RawValue {
    raw(EXTENSIONS)
}

/// Whether a request gets the view: always on the legacy lane; on the
/// modern lane when its client capabilities declare the extension with the
/// view's MIME type.
pub fn wanted(lane: Lane, params: &Map<String, Value>) -> bool {
    match lane {
        Lane::Legacy(_) => true,
        Lane::Modern => extension(params, EXTENSION)
            .and_then(|u| u.get("mimeTypes"))
            .and_then(Value::as_array)
            .is_some_and(|types| types.iter().any(|t| t == MIME)),
    }
}

/// A tool definition's `_meta`, for a request that gets the view.
pub fn tool_meta(ui: Ui) -> Option<&'static RawValue> {
    match ui {
        Ui::None => None,
        Ui::Opens => Some(raw(OPENS_META)),
        Ui::AppOnly(_) => Some(raw(APP_ONLY_META)),
    }
}

/// How a tool is offered to a request: an app-only tool not at all when the
/// request does not get the view.
pub fn offer(offer: Offer, ui: Ui, wanted: bool) -> Offer {
    match ui {
        Ui::AppOnly(_) if !wanted => Offer::Hidden,
        _ => offer,
    }
}

/// A call of an app-only tool from a modern request that does not declare
/// the extension: refused as the specification's missing client capability.
pub fn check_call(name: &str, lane: Lane, params: &Map<String, Value>) -> Result<(), RpcError> {
    let app_only = tools::find(name).is_some_and(|(_, t)| matches!(t.ui, Ui::AppOnly(_)));
    if !app_only || wanted(lane, params) {
        return Ok(());
    }
    Err(RpcError::missing_capability(
        "this tool is called by the annotation view: the request must declare the io.modelcontextprotocol/ui extension (mimeTypes [\"text/html;profile=mcp-app\"]) in its client capabilities".into(),
        REQUIRED,
    ))
}

/// Whether the view is listed as a resource to this connection: when it
/// gets the view and is offered a tool that opens it.
pub fn listed(cx: &crate::context::Ctx, wanted: bool) -> bool {
    wanted
        && tools::registry()
            .iter()
            .any(|t| matches!(t.ui, Ui::Opens) && tools::offer(cx.view(), t) != Offer::Hidden)
}

/// The view in `resources/list`.
pub fn resource() -> Resource {
    Resource {
        uri: URI.into(),
        name: "task_annotations".into(),
        title: "Scale task annotations".into(),
        mime_type: MIME,
    }
}
