//! The tools: one file per Scale area (tasks, batches, projects, team, files,
//! the callback log), each holding its tools' declarations, request mapping,
//! result shaping and tests. This file is the registry and the one entry
//! point, [`call`]: validate the arguments against the tool's own schema,
//! run it, and hand back its structured result or its error.
//!
//! Shared pieces sit in files named for their job: [`args`] (argument
//! declarations), [`schema`] (the validator), [`run`] (sending Scale
//! requests), [`error`] (tool errors and advice), [`shape`] (trimming
//! results), [`guard`] (what a connection may call, rate limits, guarded
//! writes and the audit line of every call) and [`scope`] (project scope).

pub(crate) mod args;
pub(crate) mod error;
pub(crate) mod follow;
pub(crate) mod guard;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod scope;
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
mod permission_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, ToolError};
pub(crate) use guard::{offer, Offer};

use crate::auth::Scope;
use crate::context::Ctx;
use crate::io::BoxFut;
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

#[derive(Clone, Copy)]
pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: fn() -> Value,
    pub hints: Hints,
    /// Reports progress while it runs, so the transport may stream it.
    pub progress: bool,
    /// The scope a call needs (docs/permissions.md §2); for a tool with
    /// [`Actions`], what its least action needs.
    pub scope: Scope,
    /// JSON pointers into a successful result's `structuredContent` where
    /// text written by people outside the operator may sit (labelers'
    /// responses, metadata, callback bodies, teammates): the result's
    /// `_meta["scale-mcp/untrusted"]`.
    pub untrusted: &'static [&'static str],
    /// Actions that need more than `scope`, when the tool has them.
    pub actions: Option<&'static Actions>,
    /// How the tool keeps to a connection's projects ([`scope`]).
    pub projects: Projects,
    pub(crate) run: RunFn,
}

/// How a tool keeps to the projects a connection is confined to
/// (docs/permissions.md §3); [`scope`] applies it around the tool's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projects {
    /// A create: it names an allowed `project`, or a `batch` in one (either
    /// may also sit in `params`).
    Create,
    /// This argument names the project the call creates or changes.
    Names(&'static str),
    /// A list: Scale's own `project` filter is sent.
    Filter,
    /// Changes the task `task_id`, which is looked up first.
    Task,
    /// Reads or changes the batch `name`, which is looked up first.
    Batch,
    /// Reads the task `task_id` or the project `name`: one of another
    /// project answers like a missing one.
    GetTask,
    GetProject,
    /// Lists projects: only the connection's are shown.
    ListProjects,
    /// Reads the callback log, which filters by project itself.
    Log,
    /// Acts on the whole account: not offered to a connection confined to projects.
    Account,
}

/// For a tool whose actions need different scopes (`manage_team`: `list` is
/// a read, invites and role changes need `scale:team`): what the larger
/// actions need, and the tool as offered to a connection without it.
pub struct Actions {
    pub needs: Scope,
    /// Names the action when the arguments ask for one that needs `needs`
    /// (e.g. "manage_team with action `invite`").
    pub asks: fn(&Map<String, Value>) -> Option<String>,
    /// The tool's description and input schema without those actions.
    pub narrowed_description: &'static str,
    pub narrowed_schema: fn() -> Value,
}

/// A [`ToolDef`] whose input schema and argument parsing both come from the
/// argument struct `args` (see [`args::args!`]), so they cannot disagree;
/// `run` is an `async fn(&Ctx, Args) -> ToolResult`. `progress: true` marks a
/// long tool that reports progress (see [`crate::context::Ctx::report`]).
macro_rules! tool {
    (
        name: $name:literal,
        title: $title:literal,
        description: $desc:expr,
        args: $args:ty,
        output: $output:expr,
        hints: $hints:expr,
        scope: $scope:ident,
        untrusted: $untrusted:expr,
        projects: $projects:ident $(($arg:literal))?,
        $(progress: $progress:expr,)?
        run: $run:path $(,)?
    ) => {{
        // The tool's own future, boxed as it is: no wrapping future per tool.
        fn run<'a>(
            cx: &'a $crate::context::Ctx,
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
            scope: $crate::auth::Scope::$scope,
            untrusted: $untrusted,
            actions: None,
            projects: $crate::tools::Projects::$projects $(($arg))?,
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

/// Every tool, in the order `tools/list` shows them: each area's table of
/// [`ToolDef`]s (constants, so the registry is data rather than code that
/// builds it), joined once.
pub fn registry() -> &'static [ToolDef] {
    static ALL: OnceLock<Vec<ToolDef>> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            tasks::TOOLS,
            bulk::TOOLS,
            batches::TOOLS,
            waits::TOOLS,
            projects::TOOLS,
            team::TOOLS,
            files::TOOLS,
            callbacks::TOOLS,
        ]
        .concat()
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
/// else, refusals and invalid arguments included, is the tool's result.
/// Every call, known or not, leaves one audit line.
pub(crate) async fn call(
    cx: &Ctx,
    name: &str,
    args: Map<String, Value>,
) -> Result<ToolResult, UnknownTool> {
    let audit = guard::Audit::start(cx);
    let Some((i, tool)) = find(name) else {
        audit.finish(cx, None, &Err(ToolError::invalid("unknown tool")));
        return Err(UnknownTool(name.to_string()));
    };
    let r = checked(cx, i, tool, args, Box::new(tool.run))
        .await
        .map(fit);
    audit.finish(cx, Some(tool.name), &r);
    Ok(r)
}

/// A result as every answer carries it: JSON text, no larger than hosted
/// clients take, whichever tool made it.
pub(crate) fn fit(out: Out) -> Out {
    let raw = match out {
        Out::Raw(r) => r,
        Out::Json(v) => shape::raw(&v),
    };
    Out::Raw(shape::fit_result(raw))
}

/// A run in place of a tool's own body (see [`call_via`]).
pub(crate) type RunWith<'a> =
    Box<dyn FnOnce(&'a Ctx, Map<String, Value>) -> BoxFut<'a, ToolResult> + 'a>;

/// Runs `run` behind every check a call of tool `tool` passes (view, rate
/// limit, arguments, project scope), as the MCP tasks that follow a wait
/// tool's work do on each look; the audit line names the tool and `via`,
/// the MCP method the look came from. `run`'s result is not fitted.
pub(crate) async fn call_via<'a>(
    cx: &'a Ctx,
    tool: &'static str,
    args: Map<String, Value>,
    via: &'static str,
    run: RunWith<'a>,
) -> ToolResult {
    let audit = guard::Audit::start(cx);
    let (i, tool) = find(tool).expect("a tool of the registry");
    let r = checked(cx, i, tool, args, run).await;
    audit.finish_via(cx, tool.name, via, r.as_ref().err());
    r
}

/// The checks of [`guard`] around `run` (the tool's own body, or a run in
/// its place), in order: the connection offers the tool, the rate limit,
/// the arguments' schema, then what the arguments ask for (an action's
/// scope, callbacks, billed work, invites). On a connection confined to
/// projects, [`scope`] checks before and after.
async fn checked<'a>(
    cx: &'a Ctx,
    i: usize,
    tool: &ToolDef,
    mut args: Map<String, Value>,
    run: RunWith<'a>,
) -> ToolResult {
    guard::admit(cx, tool)?;
    guard::rate_limit(cx).await?;
    schema::validate(&input_schemas()[i], &args).map_err(ToolError::invalid)?;
    // Explicit nulls mean "not given"; dropping them keeps them off the wire.
    args.retain(|_, v| !v.is_null());
    guard::check_args(cx, tool, &args)?;
    if cx.view().projects().is_none() {
        return run(cx, args).await;
    }
    let ids = scope::before(cx, tool, &mut args).await?;
    let r = run(cx, args).await;
    scope::after(cx, tool, &ids, r)
}
