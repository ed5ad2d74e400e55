//! The messages this server writes, as plain serde types: JSON-RPC envelopes
//! and errors, the initialize and discover results, tool definitions and
//! results, and resources. Scale's JSON passes through as `&RawValue`, so a
//! tool result is copied into the answer, never parsed and rebuilt.
//!
//! Field names follow the MCP schema (camelCase); what only the 2026-07-28
//! lane carries ([`Modern`]) is absent on the legacy lane.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The JSON-RPC version every message carries.
pub const JSONRPC: &str = "2.0";

/// `{"jsonrpc":"2.0","id":…,"result":…}` or `…,"error":…}`.
#[derive(Serialize)]
pub struct Envelope<'a> {
    pub jsonrpc: &'static str,
    pub id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject<'a>>,
}

#[derive(Serialize)]
pub struct ErrorObject<'a> {
    pub code: i64,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Value>,
}

/// `serverInfo`.
#[derive(Serialize, Clone, Copy)]
pub struct Implementation {
    pub name: &'static str,
    pub title: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
pub struct ServerCapabilities {
    pub tools: ListChanged,
    pub resources: ResourcesCapability,
    /// The 2025-11-25 `tasks` capability (MCP tasks, first era).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Box<RawValue>>,
    /// The extensions this server supports, by identifier, with their
    /// settings: the annotation view (`super::apps::extensions`), and on
    /// 2026-07-28 MCP tasks (`io.modelcontextprotocol/tasks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Box<RawValue>>,
}

#[derive(Serialize)]
pub struct ListChanged {
    #[serde(rename = "listChanged")]
    pub list_changed: bool,
}

#[derive(Serialize)]
pub struct ResourcesCapability {
    pub subscribe: bool,
    #[serde(rename = "listChanged")]
    pub list_changed: bool,
}

/// What the 2026-07-28 lane adds to every result: `resultType` and the
/// server's identity in `_meta`, and on lists how long a client may cache them.
/// Results carry these four fields themselves (declared by `lane_result!`):
/// serde's `flatten` would cost several KiB of the upload.
#[derive(Default)]
pub struct Modern {
    pub result_type: Option<&'static str>,
    pub meta: Option<Meta>,
    pub ttl_ms: Option<u64>,
    pub cache_scope: Option<&'static str>,
}

/// A result struct with the fields of [`Modern`] after its own, and a
/// constructor that takes its own fields and the lane's.
macro_rules! lane_result {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? { $( $(#[$fm:meta])* pub $f:ident : $t:ty, )* }
    ) => {
        $(#[$meta])*
        #[derive(Serialize)]
        pub struct $name $(<$lt>)? {
            $( $(#[$fm])* pub $f: $t, )*
            #[serde(rename = "resultType", skip_serializing_if = "Option::is_none")]
            pub result_type: Option<&'static str>,
            #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
            pub meta: Option<Meta>,
            #[serde(rename = "ttlMs", skip_serializing_if = "Option::is_none")]
            pub ttl_ms: Option<u64>,
            #[serde(rename = "cacheScope", skip_serializing_if = "Option::is_none")]
            pub cache_scope: Option<&'static str>,
        }
        impl $(<$lt>)? $name $(<$lt>)? {
            #[allow(clippy::too_many_arguments)]
            pub fn new($( $f: $t, )* lane: Modern) -> Self {
                Self {
                    $( $f, )*
                    result_type: lane.result_type,
                    meta: lane.meta,
                    ttl_ms: lane.ttl_ms,
                    cache_scope: lane.cache_scope,
                }
            }
        }
    };
}

/// A result's `_meta`: the server's identity on the modern lane, and on tool
/// results of either lane the JSON pointers where text written by people
/// outside the operator sits (docs/permissions.md §5).
#[derive(Serialize, Default)]
pub struct Meta {
    #[serde(
        rename = "io.modelcontextprotocol/serverInfo",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_info: Option<Implementation>,
    #[serde(
        rename = "scale-mcp/untrusted",
        skip_serializing_if = "<[_]>::is_empty"
    )]
    pub untrusted: &'static [&'static str],
    /// The MCP task a 2025-11-25 `tasks/result` answer belongs to.
    #[serde(
        rename = "io.modelcontextprotocol/related-task",
        skip_serializing_if = "Option::is_none"
    )]
    pub related_task: Option<RelatedTask>,
}

#[derive(Serialize)]
pub struct RelatedTask {
    #[serde(rename = "taskId")]
    pub task_id: String,
}

#[derive(Serialize)]
pub struct InitializeResult<'a> {
    #[serde(rename = "protocolVersion")]
    pub protocol_version: &'a str,
    pub capabilities: ServerCapabilities,
    #[serde(rename = "serverInfo")]
    pub server_info: Implementation,
    pub instructions: &'a str,
}

lane_result! {
pub struct DiscoverResult<'a> {
    #[serde(rename = "supportedVersions")]
    pub supported_versions: &'a [&'a str],
    pub capabilities: ServerCapabilities,
    #[serde(rename = "serverInfo")]
    pub server_info: Implementation,
    pub instructions: &'a str,
}
}

#[derive(Serialize)]
pub struct Tool<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    #[serde(rename = "inputSchema")]
    pub input_schema: &'a Value,
    #[serde(rename = "outputSchema")]
    pub output_schema: Value,
    pub annotations: ToolAnnotations<'a>,
    /// On 2025-11-25, for the tools that may run as MCP tasks:
    /// `{"taskSupport": "optional"}` (a fixed value: no type of its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<Box<RawValue>>,
    /// The annotation view's links (`super::apps::tool_meta`).
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<&'static RawValue>,
}

#[derive(Serialize)]
pub struct ToolAnnotations<'a> {
    pub title: &'a str,
    #[serde(rename = "readOnlyHint")]
    pub read_only_hint: bool,
    #[serde(rename = "destructiveHint")]
    pub destructive_hint: bool,
    #[serde(rename = "idempotentHint")]
    pub idempotent_hint: bool,
    #[serde(rename = "openWorldHint")]
    pub open_world_hint: bool,
}

lane_result! {
pub struct ListToolsResult<'a> {
    pub tools: Vec<Tool<'a>>,
}
}

lane_result! {
/// A tool result: one text block with the JSON, and the same JSON as
/// `structuredContent` on success, or the error text with `isError`.
pub struct CallToolResult<'a> {
    pub content: [TextContent<'a>; 1],
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<&'a RawValue>,
    #[serde(rename = "isError", skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}
}

impl<'a> CallToolResult<'a> {
    /// A tool's result: its JSON as the text block and as `structuredContent`.
    ///
    /// `text` is the JSON's own text, or for a result whose text block says
    /// more than its `structuredContent` (an attachment's chunk: its bytes
    /// in the text only), that text.
    pub fn with_text(text: &'a str, json: &'a RawValue, lane: Modern) -> Self {
        Self::new([TextContent::new(text)], Some(json), None, lane)
    }

    /// A tool's error: its text, marked `isError`.
    pub fn failure(text: &'a str, lane: Modern) -> Self {
        Self::new([TextContent::new(text)], None, Some(true), lane)
    }
}

#[derive(Serialize)]
pub struct TextContent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

impl<'a> TextContent<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { kind: "text", text }
    }
}

#[derive(Serialize)]
pub struct Resource {
    pub uri: String,
    pub name: String,
    pub title: String,
    #[serde(rename = "mimeType")]
    pub mime_type: &'static str,
}

lane_result! {
pub struct ListResourcesResult {
    pub resources: Vec<Resource>,
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
}

#[derive(Serialize)]
pub struct ResourceTemplate<'a> {
    #[serde(rename = "uriTemplate")]
    pub uri_template: String,
    pub name: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    #[serde(rename = "mimeType")]
    pub mime_type: &'a str,
}

lane_result! {
pub struct ListResourceTemplatesResult<'a> {
    #[serde(rename = "resourceTemplates")]
    pub resource_templates: Vec<ResourceTemplate<'a>>,
}
}

lane_result! {
pub struct ReadResourceResult<'a> {
    pub contents: [TextResourceContents<'a>; 1],
}
}

#[derive(Serialize)]
pub struct TextResourceContents<'a> {
    pub uri: &'a str,
    #[serde(rename = "mimeType")]
    pub mime_type: &'static str,
    pub text: &'a str,
    /// The annotation view's CSP and border (`super::apps::resource_meta`).
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<&'static RawValue>,
}

/// `notifications/progress`, sent inside a streamed answer before its result.
#[derive(Serialize)]
pub struct ProgressNotification<'a> {
    pub jsonrpc: &'static str,
    pub method: &'static str,
    pub params: ProgressParams<'a>,
}

#[derive(Serialize)]
pub struct ProgressParams<'a> {
    /// The token the request carried in `params._meta.progressToken`.
    #[serde(rename = "progressToken")]
    pub progress_token: &'a Value,
    pub progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    pub message: &'a str,
}

/// The empty result (`ping`).
#[derive(Serialize)]
pub struct EmptyResult {}
