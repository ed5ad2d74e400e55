//! What is checked around every tool call before anything is sent to Scale
//! (docs/permissions.md §2-§5): whether the connection's view offers the tool
//! and allows the scope the call needs, the rate limit per principal, the
//! guards on writes (callback destinations, billed work on a live key, invite
//! domains), and the audit line every call leaves. What depends on the
//! caller (their principal, key, answer on billed work, webhook and default
//! callback) is read from their identity; the operator's settings from
//! `Config`.
//!
//! A refusal is a tool error that names the scope, the narrowing or the
//! setting that refused and says nothing was sent. Project scope is
//! [`super::scope`]'s.

use super::error::{ErrorKind, ToolError};
use super::kernel::{Out, Projects, ToolDef, ToolResult, Ui};
use crate::auth::{Account, Principal, Refusal, View};
use crate::context::Ctx;
use crate::http::{hostname_of, is_http_url, origin_of};
use crate::json::truncate;
use serde::Serialize;
use serde_json::{Map, Value};

/// How `tools/list` shows a tool to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    Hidden,
    Full,
    /// Without the actions its [`super::kernel::Actions`] need (`manage_team` with
    /// `action: list` only).
    Narrowed,
}

/// The rules of [`admit`], as `tools/list` applies them: a tool is listed
/// exactly when a call of it is not refused before its arguments are read.
pub(crate) fn offer(view: &View, tool: &ToolDef) -> Offer {
    if view.tool_listed(listed_as(tool)).is_err()
        || (tool.projects == Projects::Account && view.projects().is_some())
        || view.permits(tool.scope).is_err()
    {
        return Offer::Hidden;
    }
    match tool.actions {
        Some(a) if view.permits(a.needs).is_err() => Offer::Narrowed,
        _ => Offer::Full,
    }
}

/// The name a connection's tool lists decide `tool` by: an app-only tool's
/// is the tool whose results open its view, so it is offered wherever that
/// one is (and `TOOLS` need not name it).
fn listed_as(tool: &ToolDef) -> &'static str {
    match tool.ui {
        Ui::AppOnly(follows) => follows,
        _ => tool.name,
    }
}

/// A refusal by the connection's view, naming what refused `what` (and, for
/// a missing scope, `principal`).
pub(crate) fn refusal(principal: &Principal, what: &str, r: Refusal) -> ToolError {
    let why = match r {
        Refusal::NotListed(s) => {
            format!("{what} is not available on this connection: {s} does not list it.")
        }
        Refusal::Excluded(s) => {
            format!("{what} is not available on this connection: {s} excludes it.")
        }
        Refusal::ReadOnly(s) => {
            format!("{what} changes data in Scale, and this connection is read-only ({s}).")
        }
        Refusal::MissingScope(scope) => format!(
            "{what} needs the {} scope, which {} does not have (it has {}).",
            scope.name(),
            principal.describe(),
            principal.scopes.names()
        ),
        Refusal::Project(s) => format!(
            "{what} acts on the whole Scale account, so it is not offered on a connection confined to projects ({s})."
        ),
    };
    ToolError::refused(format!("{why} Nothing was sent to Scale."), Some(r))
}

/// Whether the connection may call `tool` at all (its least scope).
pub(crate) fn admit(cx: &Ctx, tool: &ToolDef) -> Result<(), ToolError> {
    let (view, principal) = (cx.view(), cx.identity().principal());
    let what = tool.name;
    view.tool_listed(listed_as(tool))
        .map_err(|r| refusal(principal, what, r))?;
    if tool.projects == Projects::Account {
        if let Some(p) = view.projects() {
            return Err(refusal(principal, what, Refusal::Project(p.source)));
        }
    }
    view.permits(tool.scope)
        .map_err(|r| refusal(principal, what, r))
}

/// One call of the principal's budget in the `RATE_LIMITER` binding, when
/// it is configured. The binding only says yes or no and counts per period,
/// so the refusal says within how many seconds to retry. A binding that
/// fails lets the call through (and says so in the request's log): an
/// outage of the limiter should not stop all work.
pub(crate) async fn rate_limit(cx: &Ctx) -> Result<(), ToolError> {
    let Some(limiter) = cx.limiter() else {
        return Ok(());
    };
    let p = cx.identity().principal();
    match limiter.allow(&p.rate_key()).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let secs = cx.config.rate_limit_period;
            Err(ToolError::rate_limited(format!(
                "Too many tool calls from {} in the last {secs} seconds (the server's RATE_LIMITER). Retry within {secs} seconds. Nothing was sent to Scale.",
                p.describe()
            )))
        }
        Err(e) => {
            cx.note(format!(
                "rate limiter failed, call let through: {}",
                truncate(&e, 200)
            ));
            Ok(())
        }
    }
}

/// The tools whose calls create billed work: with a `live_` key they need
/// `LIVE_WRITES=true` (docs/permissions.md §4).
pub(crate) const BILLED: &[&str] = &[
    "create_task",
    "create_tasks",
    "create_evaluation_task",
    "finalize_batch",
];

/// The checks that depend on the arguments: an action's scope, billed work
/// on a live key, callback destinations and invite domains.
pub(crate) fn check_args(
    cx: &Ctx,
    tool: &ToolDef,
    args: &Map<String, Value>,
) -> Result<(), ToolError> {
    if let Some(a) = tool.actions {
        if let Some(what) = (a.asks)(args) {
            cx.view()
                .permits(a.needs)
                .map_err(|r| refusal(cx.identity().principal(), &what, r))?;
        }
    }
    let identity = cx.identity();
    let live = identity
        .scale_key()
        .is_some_and(|k| k.expose().starts_with("live_"));
    if live && !identity.allows_billed_work() && BILLED.contains(&tool.name) {
        // A user's own key: the choice was theirs, on the sign-in page.
        if let Account::Tenant(_) = identity.account() {
            return Err(ToolError::refused(
                format!(
                    "{} creates billed work, and when you signed in with your own live_ key you did not allow billed work. \
To allow it, sign in again and tick \"allow billed work\" on the sign-in page. Nothing was sent to Scale.",
                    tool.name
                ),
                None,
            ));
        }
        return Err(ToolError::refused(
            format!(
                "{} creates billed work, and this server's Scale key is a live_ key, for which the operator has not allowed that. \
To allow it, set the var LIVE_WRITES = \"true\" (wrangler.toml [vars] or the Cloudflare dashboard) and deploy again; a test_ key is never limited. Nothing was sent to Scale.",
                tool.name
            ),
            None,
        ));
    }
    check_callbacks(cx, args)?;
    if tool.name == "manage_team" {
        check_invite_domains(cx, args)?;
    }
    Ok(())
}

/// The argument names that set where Scale delivers a callback: at the top
/// level (`callback_url` of tasks, `callback` of batches) and inside
/// `params`, which is merged into the request body.
const CALLBACK_FIELDS: [&str; 2] = ["callback_url", "callback"];

/// Callback destinations (docs/permissions.md §4): Scale sends the task, its
/// labels and the account's callback auth key to them, so only the caller's own
/// webhook (`/webhooks/scale` for the operator's account, a user's tenant
/// webhook for their own), the account's default callback
/// (`DEFAULT_CALLBACK_URL`, or a tenant's webhook), https URLs on `CALLBACK_HOSTS` and, with
/// `CALLBACK_EMAILS=true`, e-mail addresses are accepted.
pub(crate) fn check_callbacks(cx: &Ctx, args: &Map<String, Value>) -> Result<(), ToolError> {
    let params = args.get("params").and_then(Value::as_object);
    for (container, field) in [(Some(args), 0), (Some(args), 1), (params, 0), (params, 1)] {
        let field = CALLBACK_FIELDS[field];
        let Some(v) = container.and_then(|c| c.get(field)) else {
            continue;
        };
        if callback_allowed(cx, v.as_str()) {
            continue;
        }
        return Err(ToolError::refused(
            format!(
                "`{field}` {} is not an allowed callback destination: Scale sends the task, its labels and the account's callback auth key there. \
Allowed: {} (this account's webhook), the DEFAULT_CALLBACK_URL var, https URLs on the hosts of the CALLBACK_HOSTS var, and e-mail addresses if the var CALLBACK_EMAILS is true. \
Leave it out to use the default. Nothing was sent to Scale.",
                truncate(&v.to_string(), 120),
                cx.identity().webhook_url(),
            ),
            None,
        ));
    }
    Ok(())
}

fn callback_allowed(cx: &Ctx, v: Option<&str>) -> bool {
    let Some(v) = v.map(str::trim) else {
        return false;
    };
    let cfg = &cx.config;
    let identity = cx.identity();
    if identity.default_callback_url() == Some(v) {
        return true;
    }
    if v.contains('@') && !v.contains("://") {
        return cfg.callback_emails && mailbox_domain(v).is_some();
    }
    let Some(origin) = origin_of(v).filter(|_| is_http_url(v)) else {
        return false;
    };
    // The account's own webhook; the operator's on any spelling of this origin.
    let own = match identity.account() {
        Account::Operator => {
            origin.eq_ignore_ascii_case(&cx.self_origin) && &v[origin.len()..] == "/webhooks/scale"
        }
        Account::Tenant(_) => identity.webhook_url() == v,
    };
    if own {
        return true;
    }
    origin.starts_with("https://") && cfg.callback_hosts.iter().any(|h| h == hostname_of(&origin))
}

/// Invites go only to e-mail domains in `TEAM_INVITE_DOMAINS`, when it is set.
fn check_invite_domains(cx: &Ctx, args: &Map<String, Value>) -> Result<(), ToolError> {
    let Some(domains) = &cx.config.team_invite_domains else {
        return Ok(());
    };
    if args.get("action").and_then(Value::as_str) != Some("invite") {
        return Ok(());
    }
    let emails = args.get("emails").and_then(Value::as_array);
    for e in emails.into_iter().flatten().filter_map(Value::as_str) {
        let Some(domain) = mailbox_domain(e.trim()) else {
            return Err(ToolError::refused(
                format!(
                    "manage_team may invite only plain e-mail addresses (name@domain) in the domains of the TEAM_INVITE_DOMAINS var; `{}` is not one. Nothing was sent to Scale.",
                    truncate(e, 80)
                ),
                None,
            ));
        };
        let domain = domain.to_ascii_lowercase();
        if !domains.contains(&domain) {
            return Err(ToolError::refused(
                format!(
                    "manage_team may invite only addresses in the domains of the TEAM_INVITE_DOMAINS var ({}); `{}` is not one of them. Nothing was sent to Scale.",
                    domains.join(", "),
                    truncate(&domain, 80)
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// The domain of a plain mailbox `local@domain`: exactly one `@`, a local
/// part of letters, digits and `.`, `_`, `%`, `+`, `-`, and a host name
/// (letters, digits, `-` and `.`, with a dot). Anything else (quoted parts,
/// a second `@`, `:` or `/`) is refused, so an address cannot smuggle a URL
/// past the callback policy or a foreign domain past the invite list.
fn mailbox_domain(v: &str) -> Option<&str> {
    let (local, domain) = v.split_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    (local_ok && crate::config::host_name(&domain.to_ascii_lowercase())).then_some(domain)
}

/// One audit line (docs/permissions.md §5): who called which tool, how it
/// ended, what Scale answered last, how many Scale requests it made and how
/// long it took, and for `create_tasks` the counts of its items. Never argument
/// values, never secrets.
#[derive(Serialize)]
struct AuditLine<'a> {
    event: &'static str,
    principal: &'a str,
    tool: &'a str,
    outcome: &'static str,
    // u64 throughout: the serialiser for it is in the worker already.
    scale_status: Option<u64>,
    subrequests: u64,
    ms: u64,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Value>,
    /// For a look at an MCP task's work: the method it came from
    /// (`tools/call` for the call that made the task, `tasks/get`,
    /// `tasks/result`).
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'static str>,
    /// A job's id (its end line).
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a str>,
}

/// A call being audited: what the request had used when it started.
pub(crate) struct Audit {
    started_ms: u64,
    subrequests: u32,
}

impl Audit {
    pub(crate) fn start(cx: &Ctx) -> Audit {
        cx.budget.note_status(None);
        Audit {
            started_ms: cx.upstream().now_ms(),
            subrequests: cx.budget.subrequests_used(),
        }
    }

    /// Records the line; an unknown tool is named `(unknown)`, as its name
    /// is whatever the client sent.
    pub(crate) fn finish(self, cx: &Ctx, tool: Option<&str>, r: &ToolResult) {
        let items = match (tool, r) {
            (Some("create_tasks"), Ok(out)) => item_counts(out),
            _ => None,
        };
        self.record(
            cx,
            tool.unwrap_or("(unknown)"),
            r.as_ref().err(),
            items,
            None,
        );
    }

    /// Records the line of a look at an MCP task's work, made by `tool`'s
    /// checks for the method `via`.
    pub(crate) fn finish_via(
        self,
        cx: &Ctx,
        tool: &str,
        via: &'static str,
        err: Option<&ToolError>,
    ) {
        self.record(cx, tool, err, None, Some(via));
    }

    fn record(
        self,
        cx: &Ctx,
        tool: &str,
        err: Option<&ToolError>,
        items: Option<Value>,
        via: Option<&'static str>,
    ) {
        let line = AuditLine {
            event: "tool_call",
            job: None,
            principal: &cx.identity().principal().label,
            tool,
            outcome: outcome(err),
            scale_status: cx.budget.last_status().map(u64::from),
            subrequests: u64::from(cx.budget.subrequests_used() - self.subrequests),
            ms: cx.upstream().now_ms().saturating_sub(self.started_ms),
            request_id: &cx.request_id,
            items,
            via,
        };
        if let Ok(text) = serde_json::to_string(&line) {
            cx.note(text);
        }
    }
}

/// The audit line of a job's end (its start is the `create_tasks` call's
/// own line): who started it, how it ended (`completed`, `failed`,
/// `cancelled`) and its counts.
pub(crate) fn job_end(cx: &Ctx, job: &str, outcome: &'static str, items: Value, ms: u64) {
    let line = AuditLine {
        event: "job_end",
        principal: &cx.identity().principal().label,
        tool: "create_tasks",
        outcome,
        scale_status: cx.budget.last_status().map(u64::from),
        subrequests: u64::from(cx.budget.subrequests_used()),
        ms,
        request_id: &cx.request_id,
        items: Some(items),
        via: None,
        job: Some(job),
    };
    if let Ok(text) = serde_json::to_string(&line) {
        cx.note(text);
    }
}

/// The counts at the top of a `create_tasks` result.
fn item_counts(out: &Out) -> Option<Value> {
    let parsed;
    let v = match out {
        Out::Json(v) => v,
        Out::Raw(raw) => {
            parsed = serde_json::from_str::<Value>(raw.get()).ok()?;
            &parsed
        }
        Out::Split { .. } => return None,
    };
    let mut counts = Map::new();
    for k in ["total", "created", "already_existed", "failed", "not_done"] {
        counts.insert(k.into(), v.get(k)?.clone());
    }
    Some(Value::Object(counts))
}

fn outcome(err: Option<&ToolError>) -> &'static str {
    let Some(e) = err else {
        return "ok";
    };
    match e.kind {
        ErrorKind::InvalidArguments => "invalid",
        ErrorKind::Refused => "refused",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Scale if e.status.is_some_and(|s| s >= 400) => "scale_error",
        ErrorKind::Scale | ErrorKind::Config | ErrorKind::Store => "upstream_error",
    }
}
