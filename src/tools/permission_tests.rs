//! The scope and narrowing rules of docs/permissions.md §2-§4 as tables:
//! principal × connection × tool (or `manage_team` action) → allowed, or which
//! refusal, every attempt to widen included; then the rules every cell must
//! keep (a refusal sends nothing and is what `tools/list` leaves out), project
//! scope tool by tool, the guards on writes, the rate limit and the audit line.

use super::testing::*;
use super::*;
use crate::auth::{mcp_path, Identity, Keyring, Principal, Refusal, Scope, Scopes, Source, View};
use crate::io::fakes::{block_on, json_response, services, FakeLimiter, FakeUpstream, MemoryStore};
use crate::io::{CallbackStore, Method};
use crate::scale::testing::{config_with, BASE};
use serde_json::{json, Value};

/// The table of §2, written out here rather than read from the tools' own
/// declarations, so a declaration that drifts fails this test.
const B2: &[(&str, Scope)] = &[
    ("get_task", Scope::Read),
    ("list_tasks", Scope::Read),
    ("get_batch", Scope::Read),
    ("list_batches", Scope::Read),
    ("get_project", Scope::Read),
    ("list_projects", Scope::Read),
    ("manage_team", Scope::Read),
    ("list_callbacks", Scope::Read),
    ("get_callback", Scope::Read),
    ("create_task", Scope::Write),
    ("create_evaluation_task", Scope::Write),
    ("cancel_task", Scope::Write),
    ("update_task", Scope::Write),
    ("resend_callback", Scope::Write),
    ("create_batch", Scope::Write),
    ("finalize_batch", Scope::Write),
    ("create_project", Scope::Write),
    ("update_project", Scope::Write),
    ("import_file", Scope::Write),
    ("create_tasks", Scope::Write),
    ("wait_for_task", Scope::Read),
    ("wait_for_batch", Scope::Read),
    ("get_task_attachment", Scope::Read),
];

#[test]
fn every_tool_needs_the_scope_of_b2() {
    assert_eq!(registry().len(), B2.len());
    for (name, scope) in B2 {
        assert_eq!(find(name).unwrap().1.scope, *scope, "{name}");
    }
    let team: Vec<&str> = registry()
        .iter()
        .filter(|t| t.actions.is_some() || t.projects == Projects::Account)
        .map(|t| t.name)
        .collect();
    assert_eq!(team, ["manage_team"]);
    assert_eq!(
        find("manage_team").unwrap().1.actions.unwrap().needs,
        Scope::Team
    );
}

fn principal(name: &str) -> Principal {
    let scopes = match name {
        "full" => Scopes::ALL,
        "read" => Scopes::of(&[Scope::Read]),
        "write" => Scopes::of(&[Scope::Write]),
        "team" => Scopes::of(&[Scope::Team]),
        _ => unreachable!(),
    };
    Principal {
        scopes,
        ..Principal::full(name)
    }
}

/// A connection: the server's vars, the URL path and the client's headers.
struct Conn {
    name: &'static str,
    vars: &'static [(&'static str, &'static str)],
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

#[rustfmt::skip]
const CONNS: &[Conn] = &[
    Conn { name: "plain", vars: &[], path: "/mcp", headers: &[] },
    Conn { name: "ro-var", vars: &[("READ_ONLY", "true")], path: "/mcp", headers: &[] },
    Conn { name: "ro-path", vars: &[], path: "/mcp/readonly", headers: &[] },
    Conn { name: "ro-header", vars: &[], path: "/mcp", headers: &[("x-mcp-readonly", "true")] },
    Conn { name: "tools-var", vars: &[("TOOLS", "get_task,manage_team,list_callbacks")], path: "/mcp", headers: &[] },
    Conn { name: "exclude-var", vars: &[("EXCLUDE_TOOLS", "create_task,manage_team")], path: "/mcp", headers: &[] },
    Conn { name: "tools-header", vars: &[], path: "/mcp", headers: &[("x-mcp-tools", "get_task,create_task")] },
    Conn { name: "exclude-header", vars: &[], path: "/mcp", headers: &[("x-mcp-exclude-tools", "get_task")] },
    Conn { name: "proj-var", vars: &[("SCALE_PROJECTS", "p")], path: "/mcp", headers: &[] },
    Conn { name: "proj-path", vars: &[], path: "/mcp/projects/p", headers: &[] },
    Conn { name: "proj-header", vars: &[], path: "/mcp", headers: &[("x-scale-project", "p")] },
    Conn { name: "proj-ro-path", vars: &[], path: "/mcp/projects/p/readonly", headers: &[] },
    // Attempts to widen: each header or path asks for more than the vars give.
    Conn { name: "widen-ro", vars: &[("READ_ONLY", "true")], path: "/mcp", headers: &[("x-mcp-readonly", "false")] },
    Conn { name: "widen-tools", vars: &[("TOOLS", "get_task")], path: "/mcp", headers: &[("x-mcp-tools", "get_task,create_task,manage_team")] },
    Conn { name: "widen-exclude", vars: &[("EXCLUDE_TOOLS", "create_task")], path: "/mcp", headers: &[("x-mcp-tools", "create_task,get_task")] },
    Conn { name: "widen-proj", vars: &[("SCALE_PROJECTS", "p,q")], path: "/mcp", headers: &[("x-scale-project", "p")] },
];

fn conn(name: &str) -> &'static Conn {
    CONNS.iter().find(|c| c.name == name).unwrap()
}

/// Scale as the table's calls see it: task t1 and batch b in project p.
fn scale() -> FakeUpstream {
    let up = FakeUpstream::new();
    up.respond_with(|req| {
        let path = req.url.strip_prefix(BASE).unwrap_or("");
        let body = match (req.method, path) {
            (Method::Get, "/task/t1") => json!({"task_id": "t1", "project": "p"}),
            (Method::Get, "/batches/b") => json!({"name": "b", "project": "p"}),
            (Method::Get, "/projects") => json!([{"name": "p"}, {"name": "q"}]),
            _ => json!({"task_id": "t1", "name": "p", "project": "p"}),
        };
        Ok(json_response(200, &body))
    });
    up
}

fn context(
    who: &str,
    c: &Conn,
    up: &FakeUpstream,
    store: Option<&MemoryStore>,
) -> Result<Ctx, String> {
    let cfg = config_with(c.vars);
    let path = mcp_path(c.path).expect("an MCP path")?;
    let headers: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let known = |t: &str| find(t).is_some();
    let p = principal(who);
    let view = View::new(&p, &cfg, &Keyring::default(), &path, &headers, &known)?;
    let (services, origin) = (services(up, store), "https://worker.example");
    let identity = Identity::operator(p, &cfg, services.store.clone(), origin);
    Ok(Ctx::new(
        cfg,
        services,
        identity,
        view,
        (origin, c.path),
        "req-1",
    ))
}

/// The calls of the table: every tool with valid arguments, and the
/// invites of `manage_team` as a call of their own.
fn calls() -> Vec<(&'static str, &'static str, Value)> {
    let mut v: Vec<(&'static str, &'static str, Value)> =
        valid_calls().into_iter().map(|(t, a)| (t, t, a)).collect();
    v.push(("list_callbacks", "list_callbacks", json!({})));
    v.push(("get_callback", "get_callback", json!({"id": "x"})));
    v.push((
        "manage_team:invite",
        "manage_team",
        json!({"action": "invite", "emails": ["a@example.com"], "role": "member"}),
    ));
    v
}

fn call_of(key: &str) -> (&'static str, Value) {
    calls()
        .into_iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, t, a)| (t, a))
        .unwrap_or_else(|| panic!("no call {key}"))
}

/// What a cell of the table expects.
#[derive(Debug, PartialEq)]
enum Want {
    Allowed,
    Refused(Refusal),
}
use Want::{Allowed, Refused};

const RO_VAR: Source = Source::Setting("READ_ONLY");
const RO_HDR: Source = Source::Header("X-MCP-Readonly");

/// Runs one call; `Ok` unless the view refused it (a tool error carrying
/// the refusal), in which case nothing may have been sent.
fn outcome(who: &str, c: &Conn, key: &str) -> Want {
    let (tool, args) = call_of(key);
    let up = scale();
    let store = MemoryStore::new();
    let cx = context(who, c, &up, Some(&store)).unwrap();
    let r = block_on(call(&cx, tool, args.as_object().unwrap().clone())).unwrap();
    match r {
        Err(ToolError {
            refusal: Some(r),
            message,
            ..
        }) => {
            assert!(
                up.requests.borrow().is_empty(),
                "{who} {} {key}: refused after sending",
                c.name
            );
            assert!(message.ends_with("Nothing was sent to Scale."), "{message}");
            Refused(*r)
        }
        Err(e) if e.kind == ErrorKind::Refused => panic!("{who} {} {key}: {e:?}", c.name),
        _ => Allowed,
    }
}

#[test]
fn principal_by_connection_by_tool() {
    let write = || Refused(Refusal::MissingScope(Scope::Write));
    let team = || Refused(Refusal::MissingScope(Scope::Team));
    let ro = |s| Refused(Refusal::ReadOnly(s));
    #[rustfmt::skip]
    let table: Vec<(&str, &str, &str, Want)> = vec![
        // Scopes alone (§2): write and team each include read.
        ("full", "plain", "create_task", Allowed),
        ("full", "plain", "manage_team:invite", Allowed),
        ("read", "plain", "get_task", Allowed),
        ("read", "plain", "list_callbacks", Allowed),
        ("read", "plain", "manage_team", Allowed),
        ("read", "plain", "create_task", write()),
        ("read", "plain", "import_file", write()),
        ("read", "plain", "manage_team:invite", team()),
        ("write", "plain", "get_batch", Allowed),
        ("write", "plain", "finalize_batch", Allowed),
        ("write", "plain", "manage_team", Allowed),
        ("write", "plain", "manage_team:invite", team()),
        ("team", "plain", "manage_team:invite", Allowed),
        ("team", "plain", "list_projects", Allowed),
        ("team", "plain", "create_batch", write()),
        // Read-only, from each source, refuses every write and invite, whatever the token.
        ("full", "ro-var", "get_task", Allowed),
        ("full", "ro-var", "create_task", ro(RO_VAR)),
        ("full", "ro-var", "manage_team", Allowed),
        ("full", "ro-var", "manage_team:invite", ro(RO_VAR)),
        ("team", "ro-path", "manage_team:invite", ro(Source::Path)),
        ("full", "ro-path", "update_project", ro(Source::Path)),
        ("full", "ro-header", "cancel_task", ro(RO_HDR)),
        ("full", "ro-header", "list_batches", Allowed),
        // The narrowing is named before the scope: signing in again cannot undo it.
        ("read", "ro-header", "create_task", ro(RO_HDR)),
        // Tool lists.
        ("full", "tools-var", "get_task", Allowed),
        ("full", "tools-var", "list_tasks", Refused(Refusal::NotListed(Source::Setting("TOOLS")))),
        ("full", "tools-var", "manage_team:invite", Allowed),
        ("full", "exclude-var", "create_task", Refused(Refusal::Excluded(Source::Setting("EXCLUDE_TOOLS")))),
        ("full", "exclude-var", "manage_team", Refused(Refusal::Excluded(Source::Setting("EXCLUDE_TOOLS")))),
        ("full", "exclude-var", "create_batch", Allowed),
        ("full", "tools-header", "create_task", Allowed),
        ("full", "tools-header", "list_tasks", Refused(Refusal::NotListed(Source::Header("X-MCP-Tools")))),
        ("read", "tools-header", "create_task", write()),
        ("full", "exclude-header", "get_task", Refused(Refusal::Excluded(Source::Header("X-MCP-Exclude-Tools")))),
        ("full", "exclude-header", "list_tasks", Allowed),
        // Project scope: account-wide manage_team is not offered; creates name the project.
        ("full", "proj-var", "manage_team", Refused(Refusal::Project(Source::Setting("SCALE_PROJECTS")))),
        ("full", "proj-path", "manage_team:invite", Refused(Refusal::Project(Source::Path))),
        ("full", "proj-header", "manage_team", Refused(Refusal::Project(Source::Header("X-Scale-Project")))),
        ("full", "proj-var", "create_task", Allowed),
        ("full", "proj-var", "get_task", Allowed),
        ("full", "proj-path", "cancel_task", Allowed),
        ("full", "proj-header", "list_tasks", Allowed),
        ("full", "proj-path", "import_file", Refused(Refusal::Project(Source::Path))),
        ("full", "proj-ro-path", "get_task", Allowed),
        ("full", "proj-ro-path", "update_task", ro(Source::Path)),
        // Widening attempts: the header or path asks for more and gets nothing.
        ("full", "widen-ro", "create_task", ro(RO_VAR)),
        ("read", "widen-ro", "create_task", ro(RO_VAR)),
        ("full", "widen-tools", "create_task", Refused(Refusal::NotListed(Source::Setting("TOOLS")))),
        ("full", "widen-tools", "manage_team", Refused(Refusal::NotListed(Source::Setting("TOOLS")))),
        ("full", "widen-tools", "get_task", Allowed),
        ("full", "widen-exclude", "create_task", Refused(Refusal::Excluded(Source::Setting("EXCLUDE_TOOLS")))),
        ("full", "widen-proj", "manage_team", Refused(Refusal::Project(Source::Header("X-Scale-Project")))),
        ("full", "widen-proj", "list_tasks", Allowed),
    ];
    for (who, c, key, want) in table {
        assert_eq!(outcome(who, conn(c), key), want, "{who} on {c}: {key}");
    }
}

#[test]
fn widening_a_server_narrowing_is_refused_at_the_connection() {
    // A header naming a project the server does not allow, or contradicting
    // the URL, or naming a tool the server lacks, is no connection at all
    // (HTTP 400 at the app layer).
    let up = FakeUpstream::new();
    #[rustfmt::skip]
    let cases = [
        Conn { name: "x", vars: &[("SCALE_PROJECTS", "p")], path: "/mcp", headers: &[("x-scale-project", "q")] },
        Conn { name: "x", vars: &[("SCALE_PROJECTS", "p")], path: "/mcp/projects/q", headers: &[] },
        Conn { name: "x", vars: &[], path: "/mcp/projects/p", headers: &[("x-scale-project", "q")] },
        Conn { name: "x", vars: &[], path: "/mcp", headers: &[("x-mcp-tools", "get_task,drop_everything")] },
    ];
    for c in cases {
        assert!(
            context("full", &c, &up, None).is_err(),
            "{} {:?}",
            c.path,
            c.headers
        );
    }
}

/// Every cell of principal × connection × call keeps the same rules: a
/// refusal by the view sends nothing and is exactly what tools/list leaves
/// out (or, for an action, narrows), and every call leaves one audit line
/// naming the principal and the tool.
#[test]
fn every_cell_agrees_with_tools_list_and_sends_nothing_when_refused() {
    for who in ["full", "read", "write", "team"] {
        for c in CONNS {
            for (key, tool, args) in calls() {
                let up = scale();
                let store = MemoryStore::new();
                let cx = context(who, c, &up, Some(&store)).unwrap();
                let def = find(tool).unwrap().1;
                let offered = offer(cx.view(), def);
                let r = block_on(call(&cx, tool, args.as_object().unwrap().clone())).unwrap();
                // Refusals that tools/list reflects: by the view itself, not
                // by a project named in the arguments.
                let by_view = match &r {
                    Err(e) => match e.refusal.as_deref() {
                        Some(Refusal::Project(_)) => def.projects == Projects::Account,
                        Some(_) => true,
                        None => false,
                    },
                    _ => false,
                };
                let expected = if key.contains(':') {
                    offered != Offer::Full
                } else {
                    offered == Offer::Hidden
                };
                assert_eq!(
                    by_view, expected,
                    "{who} on {}: {key} {offered:?} {r:?}",
                    c.name
                );
                if matches!(&r, Err(e) if e.kind == ErrorKind::Refused && e.status.is_none()) {
                    assert!(up.requests.borrow().is_empty(), "{who} {} {key}", c.name);
                }
                let audit = cx.take_audit();
                assert_eq!(audit.len(), 1);
                let line: Value = serde_json::from_str(&audit[0]).unwrap();
                assert_eq!(
                    (line["principal"].as_str(), line["tool"].as_str()),
                    (Some(who), Some(tool))
                );
                if r.is_ok() {
                    assert_eq!(line["outcome"], "ok");
                } else if by_view {
                    assert_eq!(line["outcome"], "refused");
                }
            }
        }
    }
}

// ------------------------------------------------------------ project scope

fn scoped(
    vars: &'static [(&'static str, &'static str)],
    path: &'static str,
    up: &FakeUpstream,
    store: Option<&MemoryStore>,
) -> Ctx {
    let c = Conn {
        name: "scoped",
        vars,
        path,
        headers: &[],
    };
    context("full", &c, up, store).unwrap()
}

fn run_in(cx: &Ctx, tool: &str, args: Value) -> Result<Out, ToolError> {
    block_on(call(cx, tool, args.as_object().unwrap().clone())).unwrap()
}

fn text(r: &Result<Out, ToolError>, tool: &str) -> String {
    match r {
        Err(e) => e.text(tool),
        Ok(Out::Raw(raw)) => raw.get().to_string(),
        Ok(Out::Json(v)) => v.to_string(),
        Ok(Out::Split { text, .. }) => text.clone(),
    }
}

/// Scale with a task and a batch in each of projects p and q.
fn two_projects() -> FakeUpstream {
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Get, "/task/tp") => (
            200,
            json!({"task_id": "tp", "project": "p", "response": {"x": 1}}),
        ),
        (Method::Get, "/task/tq") => (
            200,
            json!({"task_id": "tq", "project": "q", "response": {"secret": "labels of q"}}),
        ),
        (Method::Get, "/batches/bp") => (200, json!({"name": "bp", "project": "p"})),
        (Method::Get, "/batches/bq") => (200, json!({"name": "bq", "project": "q"})),
        (Method::Get, "/batches/bp/status") => {
            (200, json!({"status": "in_progress", "pending": 1}))
        }
        (Method::Get, "/projects") => (200, json!([{"name": "p"}, {"name": "q"}, {"name": "r"}])),
        (Method::Get, "/projects/p") => (200, json!({"name": "p"})),
        (Method::Get, "/projects/q") => (200, json!({"name": "q"})),
        (Method::Get, p) if p.starts_with("/tasks?") || p.starts_with("/batches?") => {
            (200, json!({"docs": []}))
        }
        (_, p)
            if p.starts_with("/task/tp")
                || p.starts_with("/batches/bp")
                || p.starts_with("/task/image") =>
        {
            (200, json!({"task_id": "tp", "name": "bp", "project": "p"}))
        }
        (_, p) => (
            404,
            json!({"status_code": 404, "error": format!("No such thing at {p}")}),
        ),
    });
    up
}

#[test]
fn another_projects_object_answers_exactly_like_a_missing_one() {
    #[rustfmt::skip]
    let cases = [
        ("get_task", json!({"task_id": "tp"}), json!({"task_id": "tq"}), json!({"task_id": "nope"})),
        ("get_batch", json!({"name": "bp"}), json!({"name": "bq"}), json!({"name": "nope"})),
        ("get_project", json!({"name": "p"}), json!({"name": "q"}), json!({"name": "nope"})),
        ("cancel_task", json!({"task_id": "tp"}), json!({"task_id": "tq"}), json!({"task_id": "nope"})),
        ("update_task", json!({"task_id": "tp", "add_tags": ["a"]}), json!({"task_id": "tq", "add_tags": ["a"]}), json!({"task_id": "nope", "add_tags": ["a"]})),
        ("resend_callback", json!({"task_id": "tp"}), json!({"task_id": "tq"}), json!({"task_id": "nope"})),
        ("finalize_batch", json!({"name": "bp"}), json!({"name": "bq"}), json!({"name": "nope"})),
        ("wait_for_task", json!({"task_id": "tp", "timeout_s": 1}), json!({"task_id": "tq", "timeout_s": 1}), json!({"task_id": "nope", "timeout_s": 1})),
        ("wait_for_batch", json!({"name": "bp", "timeout_s": 1}), json!({"name": "bq", "timeout_s": 1}), json!({"name": "nope", "timeout_s": 1})),
    ];
    for (tool, inside, outside, missing) in cases {
        let up = two_projects();
        let cx = scoped(&[("SCALE_PROJECTS", "p,nope")], "/mcp", &up, None);
        let r = run_in(&cx, tool, inside.clone());
        assert!(r.is_ok(), "{tool} {inside}: {}", text(&r, tool));
        let out = text(&run_in(&cx, tool, outside.clone()), tool);
        let miss = text(&run_in(&cx, tool, missing.clone()), tool);
        // The same text with the object's id in its place: nothing tells them apart.
        let id = |v: &Value| {
            v.get("task_id")
                .or(v.get("name"))
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            out.replace(&id(&outside), "ID"),
            miss.replace(&id(&missing), "ID"),
            "{tool}"
        );
        assert!(out.contains("404 Not Found"), "{out}");
        assert!(
            !out.contains("labels of q") && !out.contains("No such thing"),
            "{out}"
        );
        // Nothing but lookups reached another project's object.
        for r in up.sent() {
            let other = r.url.contains("/tq") || r.url.contains("/bq");
            assert!(r.method == Method::Get || !other, "{r:?}");
            assert!(!r.url.ends_with("/bq/status"), "{r:?}");
        }
    }
}

#[test]
fn creates_and_lists_stay_inside_the_projects() {
    let up = two_projects();
    let cx = scoped(&[("SCALE_PROJECTS", "p,s")], "/mcp", &up, None);
    let refused = |tool: &str, args: Value, needle: &str| {
        let r = run_in(&cx, tool, args.clone());
        let t = text(&r, tool);
        assert!(
            matches!(&r, Err(e) if e.kind == ErrorKind::Refused),
            "{tool} {args}: {t}"
        );
        assert!(t.contains(needle), "{tool} {args}: {t}");
    };
    let img = |extra: Value| {
        let mut a = json!({"type": "imageannotation"});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    refused(
        "create_task",
        img(json!({})),
        "must name one of this connection's projects in `project`",
    );
    refused(
        "create_task",
        img(json!({"project": "q"})),
        "`project` names a project outside",
    );
    refused(
        "create_task",
        img(json!({"params": {"project": "q"}})),
        "`project` names a project outside",
    );
    refused(
        "create_task",
        img(json!({"params": {"project": 5}})),
        "`project` names a project outside",
    );
    refused(
        "create_evaluation_task",
        img(json!({"expected_response": {}, "project": "q"})),
        "outside",
    );
    refused(
        "create_batch",
        json!({"project": "q", "name": "n"}),
        "(this connection's projects: `p`, `s`; set by the server's SCALE_PROJECTS setting)",
    );
    refused(
        "create_project",
        img(json!({"name": "q"})),
        "`name` names a project outside",
    );
    refused(
        "update_project",
        json!({"name": "q", "instruction": "x"}),
        "`name` names a project outside",
    );
    refused(
        "import_file",
        json!({"file_url": "https://x.test/a"}),
        "must name one of this connection's projects in `project_name`",
    );
    refused("list_tasks", json!({}), "several projects, so list_tasks must name one of them in `project` (this connection's projects: `p`, `s`");
    refused("list_batches", json!({"project": "q"}), "outside");
    assert!(up.sent().is_empty(), "nothing is sent for a refusal");

    // A batch in another project reads as missing, and nothing is created.
    let t = text(
        &run_in(&cx, "create_task", img(json!({"batch": "bq"}))),
        "create_task",
    );
    assert!(
        t.contains("404 Not Found for GET /batches/bq: Batch not found."),
        "{t}"
    );
    let r = run_in(&cx, "create_task", img(json!({"batch": "bp"})));
    assert!(r.is_ok(), "{}", text(&r, "create_task"));
    let r = run_in(
        &cx,
        "list_tasks",
        json!({"project": "p", "status": "completed"}),
    );
    assert!(r.is_ok(), "{}", text(&r, "list_tasks"));
    let sent = up.sent();
    assert!(sent
        .iter()
        .all(|r| r.method == Method::Get || !r.url.contains("bq")));
    let last = &sent.last().unwrap().url;
    assert!(
        last.starts_with(&format!("{BASE}/tasks?project=p&")),
        "{last}"
    );

    // One allowed project: lists are filtered by it without asking.
    let up = two_projects();
    let cx = scoped(&[], "/mcp/projects/p", &up, None);
    assert!(run_in(&cx, "list_tasks", json!({"limit": 5})).is_ok());
    assert!(run_in(&cx, "list_batches", json!({})).is_ok());
    let sent = up.sent();
    assert!(
        sent[0].url.starts_with(&format!("{BASE}/tasks?project=p&")),
        "{:?}",
        sent[0]
    );
    assert!(
        sent[1]
            .url
            .starts_with(&format!("{BASE}/batches?project=p&")),
        "{:?}",
        sent[1]
    );
    let r = run_in(&cx, "list_projects", json!({}));
    assert_eq!(text(&r, "list_projects"), r#"{"projects":[{"name":"p"}]}"#);
}

fn deliver(store: &MemoryStore, body: Value, ms: u64) -> String {
    match block_on(crate::callback_log::store_delivery(
        store,
        &body.to_string(),
        ms,
        86_400,
    )) {
        Ok(crate::callback_log::Stored::New(id)) => id,
        other => panic!("{other:?}"),
    }
}

fn task_delivery(task: &str, project: Option<&str>) -> Value {
    let mut t = json!({"task_id": task, "status": "completed"});
    if let Some(p) = project {
        t["project"] = json!(p);
    }
    json!({"task_id": task, "status": "completed", "task": t, "response": {"r": 1}})
}

const T0: u64 = 1_767_225_600_000;

#[test]
fn the_callback_log_shows_only_the_projects_deliveries() {
    let store = MemoryStore::new();
    let in_p = deliver(&store, task_delivery("t1", Some("p")), T0 + 1000);
    let in_q = deliver(&store, task_delivery("t2", Some("q")), T0 + 2000);
    let none = deliver(&store, task_delivery("t3", None), T0 + 3000);
    let batch = deliver(
        &store,
        json!({"batch": "b", "status": "completed", "stats": {}}),
        T0 + 4000,
    );

    let up = FakeUpstream::new();
    let cx = scoped(&[], "/mcp/projects/p", &up, Some(&store));
    let ids = |r: Result<Out, ToolError>| -> Vec<String> {
        let v: Value = serde_json::from_str(&text(&r, "list_callbacks")).unwrap();
        v["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(run_in(&cx, "list_callbacks", json!({}))),
        vec![in_p.clone()]
    );
    assert!(ids(run_in(&cx, "list_callbacks", json!({"task_id": "t2"}))).is_empty());
    assert!(run_in(&cx, "get_callback", json!({"id": in_p})).is_ok());
    let fake = "0000000000000-ffffffffffffffff";
    let missing = text(
        &run_in(&cx, "get_callback", json!({"id": fake})),
        "get_callback",
    );
    for other in [&in_q, &none, &batch] {
        let t = text(
            &run_in(&cx, "get_callback", json!({"id": other})),
            "get_callback",
        );
        assert_eq!(t.replace(other.as_str(), "ID"), missing.replace(fake, "ID"));
    }
    assert!(up.sent().is_empty(), "the log tools never call Scale");
    // Unscoped, everything is there.
    let cx = scoped(&[], "/mcp", &up, Some(&store));
    assert_eq!(ids(run_in(&cx, "list_callbacks", json!({}))).len(), 4);
}

#[test]
fn a_scoped_listing_reads_projects_from_key_metadata_only() {
    let store = MemoryStore::new();
    let mine = deliver(&store, task_delivery("mine", Some("p")), T0);
    for i in 0..30u64 {
        deliver(
            &store,
            task_delivery(&format!("t{i}"), Some("q")),
            T0 + 1000 * (i + 1),
        );
    }
    // An entry of the earlier layout: no project in its metadata, though its
    // body names p. It is left out rather than read to find out.
    block_on(
        store.put(
            "log:0000000000001-00000000000000aa",
            &json!({"id": "0000000000001-00000000000000aa", "kind": "task",
                "body": task_delivery("old", Some("p"))})
            .to_string(),
            60,
            &json!({"kind": "task", "task_id": "old"}),
        ),
    )
    .unwrap();
    let up = FakeUpstream::new();
    let cx = scoped(&[], "/mcp/projects/p", &up, Some(&store));
    let gets = store.gets.get();
    let page: Value = serde_json::from_str(&text(
        &run_in(&cx, "list_callbacks", json!({})),
        "list_callbacks",
    ))
    .unwrap();
    assert_eq!(page["callbacks"].as_array().unwrap().len(), 1);
    assert_eq!(page["callbacks"][0]["id"], mine.as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(store.gets.get(), gets, "a listing reads no values");
}

#[test]
fn create_tasks_keeps_to_the_projects_item_by_item() {
    let items = |extra: Value| json!([{"unique_id": "u0"}, extra]);
    let refused = [
        // The shared project must be allowed (checked before anything is sent).
        json!({"type": "imageannotation", "project": "q", "items": items(json!({"unique_id": "u1"}))}),
        // An item may not name another project or go to another batch.
        json!({"type": "imageannotation", "batch": "bp", "items": items(json!({"unique_id": "u1", "params": {"project": "q"}}))}),
        json!({"type": "imageannotation", "project": "p", "items": items(json!({"unique_id": "u1", "params": {"batch": "bq"}}))}),
    ];
    for args in refused {
        let up = two_projects();
        let cx = scoped(&[], "/mcp/projects/p", &up, None);
        let e = run_in(&cx, "create_tasks", args.clone()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused, "{args}: {e:?}");
        assert!(
            up.sent().iter().all(|r| r.method == Method::Get),
            "{args}: no task may be created"
        );
    }
    // A unique_id held by a task of another project: that item fails, and
    // its row says nothing of the task.
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Get, p) if p.starts_with("/tasks?") => (
            200,
            json!({"docs": [{"task_id": "tq-secret", "unique_id": "u1", "project": "q", "type": "imageannotation"}]}),
        ),
        (Method::Post, "/task/imageannotation") => (200, json!({"task_id": "new", "project": "p"})),
        (_, p) => (404, json!({"error": format!("unexpected {p}")})),
    });
    let cx = scoped(&[], "/mcp/projects/p", &up, None);
    let out = text(
        &run_in(
            &cx,
            "create_tasks",
            json!({"type": "imageannotation", "project": "p", "items": items(json!({"unique_id": "u1"}))}),
        ),
        "create_tasks",
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["created"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert!(
        v["items"][1]["error"]
            .as_str()
            .unwrap()
            .contains("outside this connection's projects"),
        "{v}"
    );
    assert!(!out.contains("tq-secret"), "{out}");
    // A read-only connection is not offered create_tasks.
    let up = two_projects();
    let cx = scoped(&[], "/mcp/projects/p/readonly", &up, None);
    let e = run_in(&cx, "create_tasks", json!({"type": "imageannotation", "project": "p", "items": items(json!({"unique_id": "u1"}))})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(up.sent().is_empty());
}

#[test]
fn create_tasks_checks_every_items_callback_before_sending() {
    for item in [
        json!({"unique_id": "u1", "callback_url": "https://evil.example/hook"}),
        json!({"unique_id": "u1", "params": {"callback_url": "https://evil.example/hook"}}),
    ] {
        let up = ok200();
        let cx = plain_with(&[("CALLBACK_HOSTS", "")], &up);
        let e = run_in(
            &cx,
            "create_tasks",
            json!({"type": "imageannotation", "project": "p", "items": [{"unique_id": "u0"}, item]}),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused, "{e:?}");
        assert!(
            e.message.starts_with("`items[1]`: `callback_url`"),
            "{}",
            e.message
        );
        assert!(up.sent().is_empty());
    }
}

// ------------------------------------------------------------ guarded writes

fn plain_with(vars: &[(&'static str, &'static str)], up: &FakeUpstream) -> Ctx {
    let vars: &'static [(&'static str, &'static str)] = Box::leak(vars.to_vec().into_boxed_slice());
    let c = Conn {
        name: "g",
        vars,
        path: "/mcp",
        headers: &[],
    };
    context("full", &c, up, None).unwrap()
}

fn ok200() -> FakeUpstream {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            200,
            &json!({"task_id": "t", "name": "b", "docs": []}),
        ))
    });
    up
}

#[test]
fn callback_destinations_follow_the_policy() {
    // No CALLBACK_HOSTS, no e-mails: only the worker's own receiver and the default.
    let strict: &[(&str, &str)] = &[
        ("CALLBACK_HOSTS", ""),
        ("CALLBACK_EMAILS", ""),
        ("DEFAULT_CALLBACK_URL", "https://hooks.example.net/scale"),
    ];
    let hosts: &[(&str, &str)] = &[
        ("CALLBACK_HOSTS", "hooks.example.com"),
        ("CALLBACK_EMAILS", ""),
    ];
    let emails: &[(&str, &str)] = &[("CALLBACK_HOSTS", ""), ("CALLBACK_EMAILS", "true")];
    #[rustfmt::skip]
    type Vars = &'static [(&'static str, &'static str)];
    let cases: Vec<(Vars, &str, Value, bool)> = vec![
        (
            strict,
            "create_task",
            json!({"callback_url": "https://worker.example/webhooks/scale"}),
            true,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "https://WORKER.example/webhooks/scale"}),
            true,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "https://hooks.example.net/scale"}),
            true,
        ),
        (strict, "create_task", json!({}), true),
        (
            strict,
            "create_task",
            json!({"callback_url": "https://evil.test/x"}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "https://worker.example/webhooks/scale/../x"}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "https://worker.example.evil.test/webhooks/scale"}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "http://worker.example/webhooks/scale"}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"params": {"callback_url": "https://evil.test/x"}}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"callback_url": "ops@example.com"}),
            false,
        ),
        (
            strict,
            "create_batch",
            json!({"callback": "https://evil.test/x"}),
            false,
        ),
        (
            strict,
            "create_evaluation_task",
            json!({"expected_response": {}, "params": {"callback_url": "https://evil.test"}}),
            false,
        ),
        (
            strict,
            "create_project",
            json!({"params": {"callback_url": "https://evil.test"}}),
            false,
        ),
        (
            strict,
            "update_project",
            json!({"name": "p2", "params": {"callback_url": "https://evil.test"}}),
            false,
        ),
        (
            strict,
            "create_task",
            json!({"params": {"callback_url": 7}}),
            false,
        ),
        (
            hosts,
            "create_task",
            json!({"callback_url": "https://hooks.example.com/a?b=c"}),
            true,
        ),
        (
            hosts,
            "create_task",
            json!({"callback_url": "https://hooks.example.com:8443/a"}),
            true,
        ),
        (
            hosts,
            "create_task",
            json!({"callback_url": "http://hooks.example.com/a"}),
            false,
        ),
        (
            hosts,
            "create_task",
            json!({"callback_url": "https://x.hooks.example.com/a"}),
            false,
        ),
        (
            hosts,
            "create_task",
            json!({"callback_url": "https://user@hooks.example.com/a"}),
            false,
        ),
        (
            hosts,
            "create_batch",
            json!({"callback": "https://hooks.example.com/b"}),
            true,
        ),
        (
            emails,
            "create_batch",
            json!({"callback": "ops@example.com"}),
            true,
        ),
        (
            emails,
            "create_task",
            json!({"callback_url": "https://hooks.example.com/a"}),
            false,
        ),
    ];
    for (vars, tool, extra, allowed) in cases {
        let mut args = match tool {
            "create_task" | "create_evaluation_task" => json!({"type": "imageannotation"}),
            "create_batch" => json!({"project": "p", "name": "b"}),
            "create_project" => json!({"type": "imageannotation", "name": "p2"}),
            _ => json!({}),
        };
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let up = ok200();
        let cx = plain_with(vars, &up);
        let r = run_in(&cx, tool, args.clone());
        let t = text(&r, tool);
        if allowed {
            assert!(r.is_ok(), "{tool} {args}: {t}");
        } else {
            assert!(
                matches!(&r, Err(e) if e.kind == ErrorKind::Refused),
                "{tool} {args}: {t}"
            );
            assert!(t.contains("is not an allowed callback destination"), "{t}");
            assert!(
                t.contains("CALLBACK_HOSTS") && t.contains("https://worker.example/webhooks/scale"),
                "{t}"
            );
            assert!(up.sent().is_empty(), "{tool} {args}");
        }
    }
}

#[test]
fn e_mail_callbacks_and_invites_need_one_plain_mailbox() {
    let up = ok200();
    let cx = plain_with(&[("CALLBACK_HOSTS", ""), ("CALLBACK_EMAILS", "true")], &up);
    let task = |cb: &str| {
        run_in(
            &cx,
            "create_task",
            json!({"type": "imageannotation", "callback_url": cb}),
        )
    };
    for ok in ["ops@example.com", "first.last+scale@mail.example.co"] {
        assert!(task(ok).is_ok(), "{ok}");
    }
    for bad in [
        "https:evil.example/x@y",
        "evil.example/x@y.example",
        "a@evil.com@corp.example",
        "ops@example",
        "ops@localhost",
        "\"ops\"@example.com",
        "<ops@example.com>",
        "ops@@example.com",
        "@example.com",
        "ops@exa mple.com",
    ] {
        let t = text(&task(bad), "create_task");
        assert!(
            t.contains("is not an allowed callback destination"),
            "{bad}: {t}"
        );
    }
    let sent = up.sent().len();
    let cx = plain_with(&[("TEAM_INVITE_DOMAINS", "corp.example")], &up);
    let invite = |e: &str| {
        run_in(
            &cx,
            "manage_team",
            json!({"action": "invite", "emails": [e], "role": "member"}),
        )
    };
    assert!(invite("a@corp.example").is_ok());
    for bad in [
        "a@evil.com@corp.example",
        "evil.com/@corp.example",
        "a b@corp.example",
        "corp.example",
    ] {
        let t = text(&invite(bad), "manage_team");
        assert!(
            t.contains("only plain e-mail addresses") && t.contains("Nothing was sent"),
            "{bad}: {t}"
        );
    }
    assert_eq!(
        up.sent().len(),
        sent + 1,
        "only the plain address was invited"
    );
}

#[test]
fn billed_work_on_a_live_key_needs_live_writes() {
    let billed = [
        (
            "create_task",
            json!({"type": "imageannotation", "project": "p"}),
        ),
        (
            "create_evaluation_task",
            json!({"type": "imageannotation", "expected_response": {}}),
        ),
        ("finalize_batch", json!({"name": "b"})),
        (
            "create_tasks",
            json!({"type": "imageannotation", "project": "p", "items": [{"unique_id": "u"}]}),
        ),
    ];
    for (tool, args) in &billed {
        let up = ok200();
        let cx = plain_with(&[("SCALE_API_KEY", "live_abcdef")], &up);
        let t = text(&run_in(&cx, tool, args.clone()), tool);
        assert!(
            t.contains("live_ key") && t.contains("LIVE_WRITES = \"true\""),
            "{t}"
        );
        assert!(up.sent().is_empty());
        let cx = plain_with(
            &[("SCALE_API_KEY", "live_abcdef"), ("LIVE_WRITES", "true")],
            &up,
        );
        assert!(run_in(&cx, tool, args.clone()).is_ok());
        let cx = plain_with(&[("SCALE_API_KEY", "test_abcdef")], &up);
        assert!(
            run_in(&cx, tool, args.clone()).is_ok(),
            "test_ keys are never limited"
        );
    }
    // Other writes are not billed work.
    let up = ok200();
    let cx = plain_with(&[("SCALE_API_KEY", "live_abcdef")], &up);
    assert!(run_in(&cx, "create_batch", json!({"project": "p", "name": "b"})).is_ok());
}

#[test]
fn invites_go_only_to_the_allowed_domains() {
    let up = ok200();
    let cx = plain_with(&[("TEAM_INVITE_DOMAINS", "example.com,corp.example")], &up);
    let invite = |emails: Value| {
        run_in(
            &cx,
            "manage_team",
            json!({"action": "invite", "emails": emails, "role": "member"}),
        )
    };
    assert!(invite(json!(["a@example.com", "b@Corp.Example"])).is_ok());
    let t = text(
        &invite(json!(["a@example.com", "x@evil.test"])),
        "manage_team",
    );
    assert!(
        t.contains(
            "TEAM_INVITE_DOMAINS var (example.com, corp.example); `evil.test` is not one of them"
        ),
        "{t}"
    );
    // Role changes are not invites.
    let r = run_in(
        &cx,
        "manage_team",
        json!({"action": "set_role", "emails": ["x@evil.test"], "role": "member"}),
    );
    assert!(r.is_ok());
    assert_eq!(up.sent().len(), 2);
}

#[test]
fn the_rate_limit_counts_per_principal_and_says_when_to_retry() {
    let up = ok200();
    let limiter = FakeLimiter::new(2);
    let make = |who: &str| {
        let mut s = services(&up, None);
        s.limiter = Some(std::rc::Rc::new(limiter.clone()));
        let cfg = config_with(&[("RATE_LIMIT_PERIOD", "10")]);
        let p = principal(who);
        let view = View::full(&p);
        let identity = Identity::operator(p, &cfg, None, "https://w.example");
        Ctx::new(cfg, s, identity, view, ("https://w.example", "/mcp"), "r")
    };
    let a = make("full");
    assert!(run_in(&a, "get_task", json!({"task_id": "t"})).is_ok());
    assert!(run_in(&a, "get_task", json!({"task_id": "t"})).is_ok());
    let t = text(&run_in(&a, "get_task", json!({"task_id": "t"})), "get_task");
    assert!(
        t.contains("Retry within 10 seconds") && t.contains("token `full`"),
        "{t}"
    );
    assert_eq!(up.sent().len(), 2);
    // Another principal has its own count.
    assert!(run_in(&make("read"), "get_task", json!({"task_id": "t"})).is_ok());
    assert_eq!(
        *limiter.calls.borrow(),
        ["token:full", "token:full", "token:full", "token:read"]
    );
    // A limiter that fails lets the call through and says so in the request's log.
    limiter.fail.set(true);
    assert!(run_in(&a, "get_task", json!({"task_id": "t"})).is_ok());
    assert!(a
        .take_notes()
        .iter()
        .any(|l| l.starts_with("rate limiter failed")));
}

#[test]
fn audit_lines_name_principal_tool_and_outcome_never_arguments() {
    let up = FakeUpstream::new();
    up.push_json(200, json!({"task_id": "t", "project": "p"}));
    up.push_json(404, json!({"error": "Task with that ID not found."}));
    let store = MemoryStore::new();
    let cx = context("read", conn("plain"), &up, Some(&store)).unwrap();
    let secret_arg = "argument-value-that-must-not-be-logged";
    let _ = run_in(&cx, "get_task", json!({"task_id": secret_arg}));
    let _ = run_in(&cx, "get_task", json!({"task_id": secret_arg}));
    let _ = run_in(&cx, "get_task", json!({"task_id": 5}));
    let _ = run_in(
        &cx,
        "create_task",
        json!({"type": "imageannotation", "instruction": secret_arg}),
    );
    assert!(block_on(call(&cx, secret_arg, Map::new())).is_err());
    let lines = cx.take_audit();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str, Value, u64)> = parsed
        .iter()
        .map(|l| {
            (
                l["tool"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
                l["scale_status"].clone(),
                l["subrequests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("get_task", "ok", json!(200), 1),
            ("get_task", "scale_error", json!(404), 1),
            ("get_task", "invalid", Value::Null, 0),
            ("create_task", "refused", Value::Null, 0),
            ("(unknown)", "invalid", Value::Null, 0),
        ]
    );
    for l in &parsed {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = [
            "event",
            "principal",
            "tool",
            "outcome",
            "scale_status",
            "subrequests",
            "ms",
            "request_id",
        ];
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(l["event"], "tool_call");
        assert_eq!(l["principal"], "read");
        assert_eq!(l["request_id"], "req-1");
    }
    assert!(lines
        .iter()
        .all(|l| !l.contains(secret_arg) && !l.contains("test_key_abc")));
}

#[test]
fn results_mark_where_outside_text_sits() {
    let by_tool = |name: &str| find(name).unwrap().1.untrusted;
    assert_eq!(by_tool("get_task"), ["/response", "/metadata", "/audits"]);
    assert_eq!(by_tool("list_tasks"), ["/tasks"]);
    assert_eq!(by_tool("manage_team"), ["/teammates"]);
    assert_eq!(by_tool("list_callbacks"), ["/callbacks"]);
    assert_eq!(by_tool("get_callback"), ["/body"]);
    assert!(by_tool("create_project").is_empty());
    for t in registry() {
        assert!(t.untrusted.iter().all(|p| p.starts_with('/')), "{}", t.name);
        // Tools that return outside text say so in their hints (§5).
        if !t.untrusted.is_empty() {
            assert!(t.hints.open_world, "{}", t.name);
        }
    }
}
