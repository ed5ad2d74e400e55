//! The tools: one file per Scale area (tasks, bulk task creation, batches,
//! waits, projects, team, files, the callback log), each holding its tools'
//! declarations, request mapping and result shaping. This file is the
//! registry, [`registry`] (every area's table, in the order `tools/list`
//! shows them), and the entry points: [`call`], which validates a call's
//! arguments against the tool's own schema, runs it within the checks
//! around it and hands back its structured result or its error, and
//! [`read_log_entry`], the callback log as the MCP resources read it.
//!
//! What a tool is lives in [`kernel`] (`ToolDef`, the `tool!` macro, `Out`).
//! The shared pieces the areas use sit in files named for their job:
//! [`args`] (argument declarations), [`formats`] (the argument formats a
//! schema cannot check), [`create`] (what every create shares), [`run`]
//! (sending Scale requests), [`error`] (tool errors and advice), [`shape`]
//! (trimming results); around a run, [`schema`] (the validator), [`guard`]
//! (what a connection may call, rate limits, guarded writes and the audit
//! line of every call) and [`scope`] (project scope). No area imports
//! another. Above the areas, [`follow`] is what MCP tasks need of the waits;
//! [`follow_work`] runs it behind the wait tool's checks.

pub(crate) mod args;
pub(crate) mod create;
pub(crate) mod error;
pub(crate) mod formats;
pub(crate) mod guard;
pub(crate) mod kernel;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod scope;
pub(crate) mod shape;

pub(crate) mod attachments;
pub(crate) mod batches;
pub(crate) mod bulk;
/// The state of a dataset-scale job, as its Durable Object applies it.
pub(crate) use bulk::store as job_store;
pub(crate) mod callbacks;
pub(crate) mod files;
pub(crate) mod projects;
pub mod tasks;
pub(crate) mod team;
pub(crate) mod waits;

pub(crate) mod follow;

#[cfg(test)]
mod permission_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub(crate) use callbacks::{read_log_entry, LogReadError};
pub use error::{ErrorKind, ToolError};
pub(crate) use guard::{offer, Offer};
pub(crate) use kernel::READ;
pub use kernel::{Actions, Hints, Out, Projects, ToolDef, ToolResult, Ui};

use crate::context::Ctx;
use crate::io::BoxFut;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

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
            attachments::TOOLS,
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
        .map(Out::fitted);
    audit.finish(cx, Some(tool.name), &r);
    Ok(r)
}

/// A run in place of a tool's own body, behind its checks.
type RunWith<'a> = Box<dyn FnOnce(&'a Ctx, Map<String, Value>) -> BoxFut<'a, ToolResult> + 'a>;

/// One look at the work a call of wait tool `tool` with `args` follows (see
/// [`follow`]), run behind every check a call of that tool passes (the
/// connection's view, the rate limit, the arguments, project scope), for an
/// MCP task made at `since` (ms). Its audit line names the tool and `via`,
/// the MCP method the look came from.
pub(crate) async fn follow_work(
    cx: &Ctx,
    tool: &'static str,
    args: Map<String, Value>,
    since: u64,
    how: follow::How,
    via: &'static str,
) -> Result<follow::Look, ToolError> {
    let audit = guard::Audit::start(cx);
    let Some((i, def)) = find(tool) else {
        return Err(ToolError::invalid("unknown tool"));
    };
    let seen: Rc<RefCell<Option<follow::Look>>> = Rc::default();
    let keep = seen.clone();
    let run: RunWith<'_> = Box::new(move |cx, args| {
        Box::pin(async move {
            *keep.borrow_mut() = Some(follow::look(cx, tool, &args, since, how).await?);
            // The look is the answer; this only tells the checks around the
            // run that it succeeded (the waits' scope has no after-check).
            Ok(Out::Json(Value::Null))
        })
    });
    let r = checked(cx, i, def, args, run).await;
    audit.finish_via(cx, tool, via, r.as_ref().err());
    r?;
    Ok(seen.take().expect("a successful look is kept"))
}

/// Starts a job of `create_tasks` with `items_url` (`bulk::job`), behind
/// every check a call of `create_tasks` passes (the connection's view, the
/// rate limit, the arguments, guarded writes, project scope), for an MCP
/// task living `ttl` ms: the job's id. Its audit line is the job's start.
pub(crate) async fn start_job(
    cx: &Ctx,
    args: Map<String, Value>,
    ttl: u64,
) -> Result<String, ToolError> {
    let audit = guard::Audit::start(cx);
    let Some((i, def)) = find("create_tasks") else {
        return Err(ToolError::invalid("unknown tool"));
    };
    let id: Rc<RefCell<String>> = Rc::default();
    let keep = id.clone();
    let run: RunWith<'_> = Box::new(move |cx, args| {
        Box::pin(async move {
            *keep.borrow_mut() = bulk::job::start(cx, &args, ttl).await?;
            Ok(Out::Json(Value::Null))
        })
    });
    let r = checked(cx, i, def, args, run).await;
    audit.finish_via(cx, "create_tasks", "tools/call", r.as_ref().err());
    r?;
    Ok(id.take())
}

/// Whether the caller of `cx` may still call `create_tasks` (a job's step
/// checks it again: scopes may have been lowered, tools narrowed).
pub(crate) fn may_create_tasks(cx: &Ctx) -> Result<(), ToolError> {
    let (_, def) = find("create_tasks").ok_or_else(|| ToolError::invalid("unknown tool"))?;
    guard::admit(cx, def)
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
