//! The tools: one file per Scale area (tasks, batches, projects, team, files,
//! the callback log), each holding its tools' declarations, request mapping,
//! result shaping and tests. This file is the registry and the one entry
//! point, [`call`]: validate the arguments against the tool's own schema,
//! run it, and hand back its structured result or its error.
//!
//! Shared pieces sit in files named for their job: [`args`] (argument
//! declarations), [`schema`] (the validator), [`run`] (sending Scale
//! requests), [`error`] (tool errors and advice), [`shape`] (trimming results).

pub(crate) mod args;
pub(crate) mod error;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod shape;

pub(crate) mod batches;
pub(crate) mod bulk;
pub(crate) mod callbacks;
pub(crate) mod files;
pub(crate) mod projects;
pub mod tasks;
pub(crate) mod team;
pub(crate) mod waits;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, ToolError};

use crate::io::{BoxFut, Ctx};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The MCP annotation hints of a tool.
#[derive(Clone, Copy, Debug)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// A Scale read: safe to repeat, touches the outside world.
pub(crate) const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: true,
};
/// A Scale create: a repeat makes another resource.
pub(crate) const CREATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: true,
};

/// A tool's structured result: a JSON value, or JSON that is passed through
/// as it came from Scale (an object, checked once as it was read).
#[derive(Clone, Debug)]
pub enum Out {
    Json(Value),
    Raw(Box<RawValue>),
}

impl From<Value> for Out {
    fn from(v: Value) -> Self {
        Out::Json(v)
    }
}

pub type ToolResult = Result<Out, ToolError>;
/// A tool's body: validated arguments in, result out.
pub(crate) type RunFn = for<'a> fn(&'a Ctx, Map<String, Value>) -> BoxFut<'a, ToolResult>;

pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: fn() -> Value,
    pub hints: Hints,
    /// Reports progress while it runs, so the transport may stream it.
    pub progress: bool,
    pub(crate) run: RunFn,
}

/// A [`ToolDef`] whose input schema and argument parsing both come from the
/// argument struct `args` (see [`args::args!`]), so they cannot disagree;
/// `run` is an `async fn(&Ctx, Args) -> ToolResult`. `progress: true` marks a
/// long tool that reports progress (see [`crate::io::Ctx::report`]).
macro_rules! tool {
    (
        name: $name:literal,
        title: $title:literal,
        description: $desc:expr,
        args: $args:ty,
        output: $output:expr,
        hints: $hints:expr,
        $(progress: $progress:expr,)?
        run: $run:path $(,)?
    ) => {{
        // The tool's own future, boxed as it is: no wrapping future per tool.
        fn run<'a>(
            cx: &'a $crate::io::Ctx,
            m: serde_json::Map<String, serde_json::Value>,
        ) -> $crate::io::BoxFut<'a, $crate::tools::ToolResult> {
            match <$args as $crate::tools::args::Args>::from_map(m) {
                Ok(a) => Box::pin($run(cx, a)),
                Err(e) => $crate::tools::refused(e),
            }
        }
        $crate::tools::ToolDef {
            name: $name,
            title: $title,
            description: $desc,
            input_schema: <$args as $crate::tools::args::Args>::schema,
            output_schema: $output,
            hints: $hints,
            progress: false $(|| $progress)?,
            run,
        }
    }};
}
pub(crate) use tool;

/// The future of a call refused before it ran.
pub(crate) fn refused<'a>(e: ToolError) -> BoxFut<'a, ToolResult> {
    Box::pin(std::future::ready(Err(e)))
}

/// Every tool, in the order `tools/list` shows them.
pub fn registry() -> &'static [ToolDef] {
    static ALL: OnceLock<Vec<ToolDef>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        v.extend(tasks::tools());
        v.extend(bulk::tools());
        v.extend(batches::tools());
        v.extend(waits::tools());
        v.extend(projects::tools());
        v.extend(team::tools());
        v.extend(files::tools());
        v.extend(callbacks::tools());
        v
    })
}

/// Input schemas, built once (they are also the validation rules).
pub(crate) fn input_schemas() -> &'static [Value] {
    static S: OnceLock<Vec<Value>> = OnceLock::new();
    S.get_or_init(|| registry().iter().map(|t| (t.input_schema)()).collect())
}

pub(crate) fn find(name: &str) -> Option<(usize, &'static ToolDef)> {
    registry().iter().enumerate().find(|(_, t)| t.name == name)
}

/// A call of a tool this server does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnknownTool(pub String);

impl std::fmt::Display for UnknownTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown tool `{}`; call tools/list for the available tools",
            crate::json::truncate(&self.0, 64)
        )
    }
}

impl std::error::Error for UnknownTool {}

/// Runs a tool: an unknown name is an error of the call itself; everything
/// else, invalid arguments included, is the tool's result.
pub(crate) async fn call(
    cx: &Ctx,
    name: &str,
    args: Map<String, Value>,
) -> Result<ToolResult, UnknownTool> {
    let Some((i, tool)) = find(name) else {
        return Err(UnknownTool(name.to_string()));
    };
    Ok(match schema::validate(&input_schemas()[i], &args) {
        Err(m) => Err(ToolError::invalid(m)),
        Ok(()) => {
            // Explicit nulls mean "not given"; dropping them keeps them off the wire.
            let args: Map<String, Value> = args.into_iter().filter(|(_, v)| !v.is_null()).collect();
            (tool.run)(cx, args).await.map(|out| {
                let raw = match out {
                    Out::Raw(r) => r,
                    Out::Json(v) => shape::raw(&v),
                };
                // Hosted clients refuse larger tool output, whichever tool made it.
                Out::Raw(shape::fit_result(raw))
            })
        }
    })
}
