//! Project scope (docs/permissions.md §3): on a connection confined to
//! projects, no tool reads or changes anything outside them. What each tool
//! needs is declared with it ([`Projects`]) and applied here, around its run:
//! - creates and name-addressed writes must name an allowed project (or, for
//!   creates, a batch in one, which is looked up);
//! - lists send Scale's own `project` filter: the one named, or the
//!   connection's only project; with several, the call must name one;
//! - writes to a task or batch look it up first (one more Scale request,
//!   counted in the request's budget);
//! - reads of a task, batch or project in another project answer exactly
//!   like a missing one (the same status and text, whether or not it
//!   exists), and `list_projects` shows only the connection's projects.
//!
//! Unscoped connections never get here.

use super::error::{ErrorKind, ToolError};
use super::kernel::{Out, Projects, ToolDef, ToolResult};
use super::run::Session;
use crate::auth::{Refusal, View};
use crate::callback_log::scan::scan;
use crate::context::Ctx;
use crate::json::truncate;
use crate::scale::{Call, Retry, ScaleError};
use serde_json::{Map, Value};

/// What kind of object a lookup is for, and its not-found text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Task,
    Batch,
    Project,
}

impl Kind {
    /// The one not-found text a scoped connection reads, whether Scale said
    /// 404 or the object is in another project (Scale's own words for tasks).
    fn not_found(self) -> &'static str {
        match self {
            Kind::Task => "Task with that ID not found.",
            Kind::Batch => "Batch not found.",
            Kind::Project => "Project not found.",
        }
    }
    /// The read that finds one by id or name.
    fn get(self, id: &str) -> Result<Call, ToolError> {
        let (lit, arg) = match self {
            Kind::Task => ("task", "task_id"),
            Kind::Batch => ("batches", "name"),
            Kind::Project => ("projects", "name"),
        };
        Ok(Call::get().lit(lit).seg(arg, id)?)
    }
}

fn names(view: &View) -> String {
    let mut out = String::new();
    for n in view.projects().map_or(&[][..], |p| &p.names[..]) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push('`');
        out.push_str(&truncate(n, 80));
        out.push('`');
    }
    out
}

/// The answer for `call` when its object is missing.
fn missing(s: &Session<'_>, call: &Call, kind: Kind) -> ToolError {
    let e = ScaleError::Http {
        status: 404,
        message: kind.not_found().to_string(),
        retry_after: None,
    };
    s.error(call, e, &[])
}

/// The answer for `call` when its object is in another project: the agent
/// reads the same text as for a missing one; the audit line says refused,
/// which tells the operator.
fn out_of_scope(s: &Session<'_>, call: &Call, kind: Kind) -> ToolError {
    let mut err = missing(s, call, kind);
    err.kind = ErrorKind::Refused;
    err
}

/// A refusal that names the connection's projects and who set them.
fn outside(view: &View, what: String) -> ToolError {
    let source = view.projects().map(|p| p.source);
    let set_by = source.map_or(String::new(), |s| format!("; set by {s}"));
    ToolError::refused(
        format!(
            "{what} (this connection's projects: {}{set_by}). Nothing was sent to Scale.",
            names(view)
        ),
        source.map(Refusal::Project),
    )
}

/// `project` (given as argument `arg` of `tool`) must be an allowed project.
fn require_project(
    view: &View,
    tool: &str,
    arg: &str,
    project: Option<&str>,
) -> Result<(), ToolError> {
    match project {
        Some(p) if view.allows_project(p) => Ok(()),
        Some(_) => Err(outside(
            view,
            format!(
                "`{arg}` names a project outside this connection's projects, so {tool} was refused"
            ),
        )),
        None => Err(outside(
            view,
            format!("{tool} must name one of this connection's projects in `{arg}`"),
        )),
    }
}

/// Looks the task or batch up; one in another project, or missing, gives
/// the not-found answer of the lookup.
async fn lookup(view: &View, s: &Session<'_>, kind: Kind, id: &str) -> Result<(), ToolError> {
    let call = kind.get(id)?;
    let v = s
        .send(&call, Retry::Idempotent, &[])
        .await
        .map_err(|e| mask_404(s, &call, kind, e))?;
    check_found(
        view,
        s,
        &call,
        kind,
        v.get("project").and_then(Value::as_str),
    )
}

/// A 404 from Scale for `call` reads like the not-found of an object in
/// another project.
fn mask_404(s: &Session<'_>, call: &Call, kind: Kind, e: ToolError) -> ToolError {
    if e.status == Some(404) && e.applied.is_none() {
        missing(s, call, kind)
    } else {
        e
    }
}

/// An object fetched by `call` must lie in the connection's projects; one
/// whose project Scale does not say counts as outside.
fn check_found(
    view: &View,
    s: &Session<'_>,
    call: &Call,
    kind: Kind,
    project: Option<&str>,
) -> Result<(), ToolError> {
    match project {
        Some(p) if view.allows_project(p) => Ok(()),
        _ => Err(out_of_scope(s, call, kind)),
    }
}

/// For a tool that looks up its task itself ([`Projects::OwnTask`]): the
/// lookup's failure, worded as `get_task`'s would be on this connection.
pub(crate) fn task_error(cx: &Ctx, call: &Call, e: ToolError) -> ToolError {
    if cx.view().projects().is_none() {
        return e;
    }
    mask_404(&Session::new(cx), call, Kind::Task, e)
}

/// For a tool that looks up its task itself: the task, of `project`, must
/// lie in the connection's projects, or it reads like a missing one.
pub(crate) fn task_in_scope(cx: &Ctx, call: &Call, project: Option<&str>) -> Result<(), ToolError> {
    if cx.view().projects().is_none() {
        return Ok(());
    }
    check_found(cx.view(), &Session::new(cx), call, Kind::Task, project)
}

/// The checks before a tool runs on a scoped connection; a list's `project`
/// filter is put into `args`. Returns the read whose not-found text
/// [`after`] uses, for tools that read one object.
pub(crate) async fn before(
    cx: &Ctx,
    tool: &ToolDef,
    args: &mut Map<String, Value>,
) -> Result<Option<Call>, ToolError> {
    let view = cx.view();
    // A name that is not a string is never an allowed one.
    let arg =
        |m: &Map<String, Value>, k: &str| m.get(k).map(|v| v.as_str().unwrap_or("").to_string());
    // What to look up (at most one object, so one await below).
    let mut look = None;
    match tool.projects {
        Projects::Create => {
            let params = args.get("params").and_then(Value::as_object);
            let named = |k: &str| arg(args, k).or_else(|| params.and_then(|p| arg(p, k)));
            let (project, batch) = (named("project"), named("batch"));
            if project.is_some() || batch.is_none() {
                require_project(view, tool.name, "project", project.as_deref())?;
            }
            look = batch.map(|b| (Kind::Batch, b));
        }
        Projects::Names(a) => require_project(view, tool.name, a, arg(args, a).as_deref())?,
        Projects::Filter => {
            let project = match (arg(args, "project"), view.projects().map(|p| &p.names[..])) {
                (Some(p), _) => {
                    require_project(view, tool.name, "project", Some(&p))?;
                    p
                }
                (None, Some([only])) => only.clone(),
                (None, _) => {
                    return Err(outside(
                        view,
                        format!(
                            "This connection may see several projects, so {} must name one of them in `project`",
                            tool.name
                        ),
                    ))
                }
            };
            args.insert("project".into(), Value::String(project));
        }
        Projects::Task => look = Some((Kind::Task, arg(args, "task_id").unwrap_or_default())),
        Projects::Batch => look = Some((Kind::Batch, arg(args, "name").unwrap_or_default())),
        Projects::GetTask => {
            return Ok(Some(
                Kind::Task.get(&arg(args, "task_id").unwrap_or_default())?,
            ))
        }
        Projects::GetProject => {
            let name = arg(args, "name").unwrap_or_default();
            let call = Kind::Project.get(&name)?;
            if !view.allows_project(&name) {
                // Not asked of Scale: another project's reads like a missing one.
                return Err(out_of_scope(&Session::new(cx), &call, Kind::Project));
            }
            return Ok(Some(call));
        }
        Projects::ListProjects | Projects::Log | Projects::Account | Projects::OwnTask => {}
    }
    if let Some((kind, id)) = look {
        lookup(view, &Session::new(cx), kind, &id).await?;
    }
    Ok(None)
}

/// The checks on a tool's result on a scoped connection.
pub(crate) fn after(cx: &Ctx, tool: &ToolDef, read: &Option<Call>, r: ToolResult) -> ToolResult {
    let view = cx.view();
    let s = Session::new(cx);
    let project_of = |out: &Out| match out {
        Out::Raw(raw) => scan(raw.get().as_bytes())
            .ok()
            .and_then(|n| n.str_at(&["project"]).map(str::to_string)),
        Out::Json(v) => v.get("project").and_then(Value::as_str).map(str::to_string),
        Out::Split { .. } => None,
    };
    match (tool.projects, read) {
        (Projects::GetTask, Some(call)) => {
            let out = r.map_err(|e| mask_404(&s, call, Kind::Task, e))?;
            check_found(view, &s, call, Kind::Task, project_of(&out).as_deref())?;
            Ok(out)
        }
        (Projects::GetProject, Some(call)) => r.map_err(|e| mask_404(&s, call, Kind::Project, e)),
        (Projects::ListProjects, _) => r.map(|out| match out {
            Out::Json(mut v) => {
                if let Some(Value::Array(list)) = v.get_mut("projects") {
                    list.retain(|p| p.get("name").and_then(Value::as_str).is_some_and(|n| view.allows_project(n)));
                }
                Out::Json(v)
            }
            other => other,
        }),
        // A task found by its unique_id after an unanswered create may be
        // another project's (unique ids are per account): not shown here.
        (Projects::Create, _) => match r {
            Ok(out) if project_of(&out).is_some_and(|p| !view.allows_project(&p)) => Err(ToolError::refused(
                "A task with this unique_id already exists outside this connection's projects, so no task was created; choose another unique_id.",
                None,
            )),
            r => r,
        },
        _ => r,
    }
}
