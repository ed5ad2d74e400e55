//! What a tool is, apart from which tools there are: [`ToolDef`] (its name,
//! description, schemas, MCP hints, the scope it needs, how it keeps to a
//! connection's projects, where its results carry outside text) and the
//! [`tool!`] macro that declares one from its argument struct and its `async
//! fn`; [`Out`] and [`ToolResult`], what a tool's run gives back.
//!
//! Every area file declares its tools with these; the registry
//! ([`super::registry`]) lists the areas' tables, and the checks around a
//! run ([`super::guard`], [`super::scope`]) read the declarations.

use super::error::ToolError;
use crate::auth::Scope;
use crate::context::Ctx;
use crate::io::BoxFut;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
    /// A result whose text block holds more than its `structuredContent`:
    /// `text` is `structured` with the bytes it describes (an attachment's
    /// chunk), which go to the client once, and are small enough for one
    /// result by construction.
    Split {
        text: String,
        structured: Box<RawValue>,
    },
}

impl Out {
    /// The result as every answer carries it: JSON text, no larger than
    /// hosted clients take, whichever tool made it.
    pub(crate) fn fitted(self) -> Out {
        let raw = match self {
            Out::Raw(r) => r,
            Out::Json(v) => super::shape::raw(&v),
            // Within the limit by construction; cutting it would lose bytes.
            split @ Out::Split { .. } => return split,
        };
        Out::Raw(super::shape::fit_result(raw))
    }
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
    /// How the tool keeps to a connection's projects ([`super::scope`]).
    pub projects: Projects,
    /// Its part in the annotation view (docs/annotation-view.md).
    pub ui: Ui,
    pub(crate) run: RunFn,
}

/// A tool's part in the annotation view, the MCP App this server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ui {
    None,
    /// Its results open the view (`_meta.ui.resourceUri`).
    Opens,
    /// Called by the view only (`_meta.ui.visibility: ["app"]`): offered,
    /// listed and refused exactly as the tool named here is.
    AppOnly(&'static str),
}

/// How a tool keeps to the projects a connection is confined to
/// (docs/permissions.md §3); [`super::scope`] applies it around the tool's run.
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
    /// Reads something of the task `task_id`, which the tool looks up
    /// itself and checks ([`super::scope::task_in_scope`]) before it reads
    /// anything else.
    OwnTask,
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
/// argument struct `args` (see [`super::args::args!`]), so they cannot disagree;
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
        $(ui: $ui:ident $(($follows:literal))?,)?
        run: $run:path $(,)?
    ) => {{
        // The tool's own future, boxed as it is: no wrapping future per tool.
        fn run<'a>(
            cx: &'a $crate::context::Ctx,
            m: serde_json::Map<String, serde_json::Value>,
        ) -> $crate::io::BoxFut<'a, $crate::tools::kernel::ToolResult> {
            match <$args as $crate::tools::args::Args>::from_map(m) {
                Ok(a) => Box::pin($run(cx, a)),
                Err(e) => $crate::tools::kernel::refused(e),
            }
        }
        $crate::tools::kernel::ToolDef {
            name: $name,
            title: $title,
            description: $desc,
            input_schema: <$args as $crate::tools::args::Args>::schema,
            output_schema: $output,
            hints: $hints,
            scope: $crate::auth::Scope::$scope,
            untrusted: $untrusted,
            actions: None,
            projects: $crate::tools::kernel::Projects::$projects $(($arg))?,
            progress: false $(|| $progress)?,
            ui: $crate::tools::kernel::ui!($($ui $(($follows))?)?),
            run,
        }
    }};
}
pub(crate) use tool;

/// A declaration's `ui`, [`Ui::None`] when it has none.
macro_rules! ui {
    () => {
        $crate::tools::kernel::Ui::None
    };
    ($ui:ident $(($follows:literal))?) => {
        $crate::tools::kernel::Ui::$ui $(($follows))?
    };
}
pub(crate) use ui;

/// The future of a call refused before it ran.
pub(crate) fn refused<'a>(e: ToolError) -> BoxFut<'a, ToolResult> {
    Box::pin(std::future::ready(Err(e)))
}
