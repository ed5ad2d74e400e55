//! The file tool: import a file from a URL into Scale's storage.

use super::run_one;
use super::{s, Ctx, ToolDef, ToolError, ToolResult, CREATE};
use crate::io::BoxFut;
use crate::scale::{Call, Retry};
use serde_json::{json, Map, Value};

pub fn tools() -> Vec<ToolDef> {
    vec![ToolDef {
        name: "import_file",
        title: "Import file",
        description: "Copies a file from a URL into Scale: POST /files/import. Returns the file with its `attachment_url` (scaledata://...), \
which create_task takes as `attachment`; use this for data Scale's labelers cannot reach directly. `project_name` attaches it to a (Rapid) project. \
Files that no task uses are deleted by Scale after a while.",
        input_schema: || {
            s::input(
                json!({
                    "file_url": {"type": "string", "minLength": 1, "maxLength": 8192, "description": "Where Scale can download the file (http(s) or a signed cloud-storage URL)."},
                    "project_name": s::string("Project to attach the file to."),
                }),
                &["file_url"],
            )
        },
        output_schema: || s::output(json!({"id": {"type": "string"}, "attachment_url": {"type": "string"}, "mime_type": {"type": "string"}})),
        hints: CREATE,
        run: import_file,
    }]
}

fn import_file<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let url = args
            .get("file_url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !url.contains("://") || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ToolError::invalid(
                "`file_url` must be a URL such as https://example.com/image.jpg",
            ));
        }
        run_one(
            cx,
            Call::post()
                .lit("files")
                .lit("import")
                .body(Value::Object(args)),
            Retry::Never,
        )
        .await
    })
}
