//! The file tool: import a file from a URL into Scale's storage.

use super::args::{args, d, keys, Args};
use super::error::ToolError;
use super::kernel::{tool, ToolDef, ToolResult, CREATE};
use super::run::run_one;
use super::shape::out;
use crate::context::Ctx;
use crate::scale::{Call, Retry};
use serde_json::Value;

pub const TOOLS: &[ToolDef] = &[tool! {
    name: "import_file",
    title: "Import file",
    description: "Copies a file from a URL into Scale: POST /files/import. Returns the file with its `attachment_url` (scaledata://...), \
which create_task takes as `attachment`; use this for data Scale's labelers cannot reach directly. `project_name` attaches it to a (Rapid) project. \
Files that no task uses are deleted by Scale after a while.",
    args: ImportFile,
    output: || out::output(r#"{"id": {"type": "string"}, "attachment_url": {"type": "string"}, "mime_type": {"type": "string"}}"#),
    hints: CREATE,
    scope: Write,
    untrusted: &[],
    projects: Names("project_name"),
    run: import_file,
}];

args! {
    pub struct ImportFile {
        req file_url: String = keys(r#"{"minLength": 1, "maxLength": 8192, "description": "Where Scale can download the file (http(s) or a signed cloud-storage URL)."}"#),
        opt project_name: String = d("Project to attach the file to."),
    }
}

async fn import_file(cx: &Ctx, a: ImportFile) -> ToolResult {
    let url = &a.file_url;
    if !url.contains("://") || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ToolError::invalid(
            "`file_url` must be a URL such as https://example.com/image.jpg",
        ));
    }
    let call = Call::post()
        .lit("files")
        .lit("import")
        .body(Value::Object(a.into_map()));
    run_one(cx, call, Retry::Never, &[]).await
}

#[cfg(test)]
mod tests {
    use crate::tools::testing::*;

    #[test]
    fn import_file_request() {
        let file =
            json!({"id": "f1", "attachment_url": "scaledata://123/abc", "mime_type": "image/jpeg"});
        let (r, reqs) = run(
            "import_file",
            json!({"file_url": "https://x.test/a.jpg?sig=1&e=2", "project_name": "p"}),
            file.clone(),
        );
        assert_eq!(ok(&r), file);
        assert_req(
            &reqs[0],
            "POST",
            "/files/import",
            Some(json!({"file_url": "https://x.test/a.jpg?sig=1&e=2", "project_name": "p"})),
        );
        let (_, reqs) = run("import_file", json!({"file_url": "s3://bucket/key"}), file);
        assert_req(
            &reqs[0],
            "POST",
            "/files/import",
            Some(json!({"file_url": "s3://bucket/key"})),
        );
    }
}
