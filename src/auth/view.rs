//! What one connection may see and do (docs/permissions.md §3): the caller's
//! scopes (their [`Principal`]'s), narrowed by the operator's vars (`READ_ONLY`, `TOOLS`,
//! `EXCLUDE_TOOLS`, `SCALE_PROJECTS`) and by the client's URL path
//! (`/mcp/readonly`, `/mcp/projects/{name}`, both) and headers
//! (`X-MCP-Readonly`, `X-MCP-Tools`, `X-MCP-Exclude-Tools`, `X-Scale-Project`).
//!
//! Every narrowing is an intersection: a client can only take away. Each
//! keeps its [`Source`], so a refusal names the narrowing that caused it.
//! What the rules mean for each tool is the tools layer's business; this
//! module answers "is this tool listed", "is this scope allowed" and "is
//! this project in scope".

use super::keyring::Keyring;
use super::principal::{Principal, PrincipalKind, Scope, Scopes};
use crate::codec::{decode_header_value, percent_decode};
use crate::config::Config;
use crate::http::header_in;
use crate::json::truncate;
use std::fmt;

/// Where a narrowing came from, as refusals name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An operator's var.
    Setting(&'static str),
    /// The connection's URL (`/mcp/readonly`, `/mcp/projects/{name}`).
    Path,
    /// A header the client sends.
    Header(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Setting(n) => write!(f, "the server's {n} setting"),
            Source::Path => f.write_str("the connection's URL"),
            Source::Header(h) => write!(f, "the {h} header"),
        }
    }
}

/// What the URL path of an MCP request asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathNarrowing {
    pub read_only: bool,
    pub project: Option<String>,
}

/// The MCP paths: `/mcp`, `/mcp/readonly`, `/mcp/projects/{name}` and the
/// last two combined in either order. `None` for any other path; an error
/// for a project segment that does not decode to UTF-8.
pub fn mcp_path(path: &str) -> Option<Result<PathNarrowing, String>> {
    let rest = path.strip_prefix("/mcp")?;
    if rest.is_empty() {
        return Some(Ok(PathNarrowing::default()));
    }
    let segs: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    let (read_only, name) = match segs.as_slice() {
        ["readonly"] => (true, None),
        ["projects", n] => (false, Some(*n)),
        ["projects", n, "readonly"] | ["readonly", "projects", n] => (true, Some(*n)),
        _ => return None,
    };
    let project = match name {
        None => None,
        Some("") => return None,
        Some(n) => match percent_decode(n) {
            Some(p) if !p.trim().is_empty() => Some(p),
            _ => {
                return Some(Err(
                    "the project in the URL (/mcp/projects/{name}) must be one percent-encoded UTF-8 name".into(),
                ))
            }
        },
    };
    Some(Ok(PathNarrowing { read_only, project }))
}

/// Why a view refuses a tool or a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An allow-list (`TOOLS`, `X-MCP-Tools`) leaves the tool out.
    NotListed(Source),
    /// A deny-list (`EXCLUDE_TOOLS`, `X-MCP-Exclude-Tools`) names it.
    Excluded(Source),
    /// The connection is read-only and the call needs more than `scale:read`.
    ReadOnly(Source),
    /// The caller's principal lacks the scope.
    MissingScope(Scope),
    /// The connection is confined to projects and the call reaches outside
    /// them (or acts on the whole account).
    Project(Source),
}

#[derive(Clone, Debug)]
struct ToolRule {
    source: Source,
    allow: bool,
    names: Vec<String>,
}

/// Projects a connection is confined to, and which narrowing confined it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectScope {
    pub names: Vec<String>,
    pub source: Source,
}

/// One connection's view: the caller's scopes and every narrowing applied.
#[derive(Clone, Debug)]
pub struct View {
    /// The principal's scopes, before read-only narrowing.
    scopes: Scopes,
    read_only: Option<Source>,
    rules: Vec<ToolRule>,
    projects: Option<ProjectScope>,
    /// Whether what this connection is offered may differ from what another
    /// caller of the same URL is offered (`cacheScope: "private"`).
    private: bool,
}

fn tool_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The request headers that narrow a connection, each as [`View::new`]
/// reads it.
pub(crate) const NARROWING: [&str; 4] = [
    "x-mcp-readonly",
    "x-mcp-tools",
    "x-mcp-exclude-tools",
    "x-scale-project",
];

/// Of `headers`, those that narrow the connection (a job keeps them, so its
/// later steps see the connection that started it).
pub(crate) fn narrowing(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| NARROWING.contains(&k.as_str()))
        .cloned()
        .collect()
}

impl View {
    /// A view without narrowing (tests, and what the narrowing starts from).
    pub fn full(principal: &Principal) -> View {
        View {
            scopes: principal.scopes,
            read_only: None,
            rules: Vec::new(),
            projects: None,
            private: false,
        }
    }

    /// The view of one request by `principal`. `tokens` are the static
    /// tokens: when they differ in scopes, or the caller signed in, what a
    /// connection is offered depends on who calls. `known_tool` tells tool
    /// names the server has, so a header naming an unknown one is refused
    /// rather than ignored. An error is a message for a 400 answer: the
    /// client asked for something malformed or outside what the server
    /// allows.
    pub(crate) fn new(
        principal: &Principal,
        cfg: &Config,
        tokens: &Keyring,
        path: &PathNarrowing,
        headers: &[(String, String)],
        known_tool: &dyn Fn(&str) -> bool,
    ) -> Result<View, String> {
        let mut v = View::full(principal);
        let header = |name| header_in(headers, name).map(str::trim);
        let ro_header = match header("x-mcp-readonly") {
            None | Some("" | "0") => false,
            Some("1") => true,
            Some(h) if h.eq_ignore_ascii_case("false") => false,
            Some(h) if h.eq_ignore_ascii_case("true") => true,
            Some(_) => return Err("X-MCP-Readonly must be true or false".into()),
        };
        // The first source that makes the connection read-only is the one refusals name.
        v.read_only = [
            (cfg.read_only, Source::Setting("READ_ONLY")),
            (path.read_only, Source::Path),
            (ro_header, Source::Header("X-MCP-Readonly")),
        ]
        .into_iter()
        .find(|(on, _)| *on)
        .map(|(_, s)| s);
        let mut client = path.read_only || ro_header;

        let server = [
            (Source::Setting("TOOLS"), true, cfg.tools.as_deref()),
            (
                Source::Setting("EXCLUDE_TOOLS"),
                false,
                Some(&cfg.exclude_tools[..]),
            ),
        ];
        for (source, allow, names) in server {
            if let Some(names) = names.filter(|n| allow || !n.is_empty()) {
                v.rules.push(ToolRule {
                    source,
                    allow,
                    names: names.to_vec(),
                });
            }
        }
        for (name, allow) in [("X-MCP-Tools", true), ("X-MCP-Exclude-Tools", false)] {
            let Some(value) = header(name) else {
                continue;
            };
            let names = tool_list(value);
            if let Some(bad) = names.iter().find(|n| !known_tool(n)) {
                return Err(format!(
                    "{name} names `{}`, which is not a tool of this server",
                    truncate(bad, 64)
                ));
            }
            if names.is_empty() && allow {
                return Err(format!(
                    "{name} lists no tools; leave the header out to keep every tool"
                ));
            }
            if !names.is_empty() {
                client = true;
                v.rules.push(ToolRule {
                    source: Source::Header(name),
                    allow,
                    names,
                });
            }
        }

        let mut project = path.project.clone().map(|p| (p, Source::Path));
        if let Some(h) = header("x-scale-project") {
            let name = decode_header_value(h).filter(|p| !p.trim().is_empty()).ok_or(
                "X-Scale-Project must name one project; a name that is not plain ASCII is sent as =?base64?{UTF-8 name in base64}?=",
            )?;
            match &project {
                Some((p, _)) if *p != name => {
                    return Err(
                        "X-Scale-Project and the connection's URL name different projects".into(),
                    )
                }
                Some(_) => {}
                None => project = Some((name, Source::Header("X-Scale-Project"))),
            }
        }
        v.projects = match (project, &cfg.scale_projects) {
            (Some((p, source)), allowed) => {
                if allowed.as_ref().is_some_and(|a| !a.contains(&p)) {
                    return Err(format!(
                        "the project named by {source} is not one of the projects this server allows (SCALE_PROJECTS)"
                    ));
                }
                client = true;
                Some(ProjectScope {
                    names: vec![p],
                    source,
                })
            }
            (None, allowed) => allowed.as_ref().map(|a| ProjectScope {
                names: a.clone(),
                source: Source::Setting("SCALE_PROJECTS"),
            }),
        };
        v.private = principal.kind == PrincipalKind::Grant || !tokens.uniform() || client;
        Ok(v)
    }

    /// Whether the tool lists (allow and deny, server and client) keep `tool`.
    pub fn tool_listed(&self, tool: &str) -> Result<(), Refusal> {
        for r in &self.rules {
            let named = r.names.iter().any(|n| n == tool);
            if r.allow && !named {
                return Err(Refusal::NotListed(r.source));
            }
            if !r.allow && named {
                return Err(Refusal::Excluded(r.source));
            }
        }
        Ok(())
    }

    /// Whether a call needing `needed` is allowed: read-only narrowing
    /// first (signing in again cannot undo it), then the principal's scopes.
    pub fn permits(&self, needed: Scope) -> Result<(), Refusal> {
        if needed != Scope::Read {
            if let Some(s) = self.read_only {
                return Err(Refusal::ReadOnly(s));
            }
        }
        if !self.scopes.allows(needed) {
            return Err(Refusal::MissingScope(needed));
        }
        Ok(())
    }

    pub fn read_only(&self) -> Option<Source> {
        self.read_only
    }

    /// The projects this connection is confined to; `None` when it is not.
    pub fn projects(&self) -> Option<&ProjectScope> {
        self.projects.as_ref()
    }

    /// Whether `project` may be read or changed on this connection.
    pub fn allows_project(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|p| p.names.iter().any(|n| n == project))
    }

    pub fn private(&self) -> bool {
        self.private
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;

    fn cfg(pairs: &[(&'static str, &str)]) -> Config {
        Config::from_raw(&RawSettings::from_pairs(pairs, true)).unwrap()
    }

    fn known(t: &str) -> bool {
        ["get_task", "create_task", "list_tasks"].contains(&t)
    }

    fn view(
        scopes: Scopes,
        c: &Config,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<View, String> {
        let p = mcp_path(path).expect("an MCP path")?;
        let h: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let principal = Principal {
            scopes,
            ..Principal::full("t")
        };
        View::new(&principal, c, &Keyring::default(), &p, &h, &known)
    }

    #[test]
    fn mcp_paths() {
        let ok = |path: &str| mcp_path(path).unwrap().unwrap();
        assert_eq!(ok("/mcp"), PathNarrowing::default());
        assert!(ok("/mcp/readonly").read_only);
        let p = ok("/mcp/projects/caf%C3%A9%2Fx");
        assert_eq!((p.read_only, p.project.as_deref()), (false, Some("café/x")));
        for both in ["/mcp/projects/a/readonly", "/mcp/readonly/projects/a"] {
            assert_eq!(
                ok(both),
                PathNarrowing {
                    read_only: true,
                    project: Some("a".into())
                }
            );
        }
        for other in [
            "/mcp/",
            "/mcp/sse",
            "/mcpx",
            "/mcp/projects",
            "/mcp/projects/",
            "/mcp/projects/a/b",
            "/mcp/readonly/readonly",
            "/",
        ] {
            assert!(mcp_path(other).is_none(), "{other}");
        }
        assert!(mcp_path("/mcp/projects/%FF").unwrap().is_err());
        assert!(mcp_path("/mcp/projects/%20").unwrap().is_err());
    }

    #[test]
    fn narrowing_only_takes_away() {
        let plain = cfg(&[]);
        let v = view(Scopes::ALL, &plain, "/mcp", &[]).unwrap();
        assert!(v.permits(Scope::Team).is_ok() && v.tool_listed("create_task").is_ok());
        assert!(v.projects().is_none() && !v.private());

        // Read-only from each source; "false" never undoes the server's.
        let ro = cfg(&[("READ_ONLY", "true")]);
        for (c, path, h, src) in [
            (
                &ro,
                "/mcp",
                vec![("x-mcp-readonly", "false")],
                Source::Setting("READ_ONLY"),
            ),
            (&plain, "/mcp/readonly", vec![], Source::Path),
            (
                &plain,
                "/mcp",
                vec![("x-mcp-readonly", "TRUE")],
                Source::Header("X-MCP-Readonly"),
            ),
        ] {
            let v = view(Scopes::ALL, c, path, &h).unwrap();
            assert_eq!(v.permits(Scope::Write), Err(Refusal::ReadOnly(src)));
            assert_eq!(v.permits(Scope::Team), Err(Refusal::ReadOnly(src)));
            assert!(v.permits(Scope::Read).is_ok());
        }

        // A read-only token cannot be widened by anything the client sends.
        let r = Scopes::of(&[Scope::Read]);
        let v = view(
            r,
            &plain,
            "/mcp",
            &[("x-mcp-readonly", "false"), ("x-mcp-tools", "create_task")],
        )
        .unwrap();
        assert_eq!(
            v.permits(Scope::Write),
            Err(Refusal::MissingScope(Scope::Write))
        );

        // Tool lists: the server's allow-list cannot be re-opened by a header.
        let allow = cfg(&[
            ("TOOLS", "get_task,list_tasks"),
            ("EXCLUDE_TOOLS", "list_tasks"),
        ]);
        let v = view(
            Scopes::ALL,
            &allow,
            "/mcp",
            &[("x-mcp-tools", "create_task,get_task")],
        )
        .unwrap();
        assert_eq!(
            v.tool_listed("create_task"),
            Err(Refusal::NotListed(Source::Setting("TOOLS")))
        );
        assert_eq!(
            v.tool_listed("list_tasks"),
            Err(Refusal::Excluded(Source::Setting("EXCLUDE_TOOLS")))
        );
        assert!(v.tool_listed("get_task").is_ok());
        let v = view(
            Scopes::ALL,
            &plain,
            "/mcp",
            &[
                ("x-mcp-tools", "get_task"),
                ("x-mcp-exclude-tools", "get_task"),
            ],
        )
        .unwrap();
        assert_eq!(
            v.tool_listed("list_tasks"),
            Err(Refusal::NotListed(Source::Header("X-MCP-Tools")))
        );
        assert_eq!(
            v.tool_listed("get_task"),
            Err(Refusal::Excluded(Source::Header("X-MCP-Exclude-Tools")))
        );
        assert!(v.private());
    }

    #[test]
    fn what_is_offered_depends_on_the_caller_for_grants_and_unequal_tokens() {
        let (plain, p) = (cfg(&[]), mcp_path("/mcp").unwrap().unwrap());
        let new = |principal: &Principal, tokens: &Keyring| {
            View::new(principal, &plain, tokens, &p, &[], &known).unwrap()
        };
        let equal = Keyring::from_raw(&RawSettings::from_pairs(
            &[("MCP_AUTH_TOKEN", "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb")],
            false,
        ))
        .unwrap();
        let unequal = Keyring::from_raw(&RawSettings::from_pairs(
            &[(
                "MCP_AUTH_TOKEN",
                r#"[{"label": "a", "token": "aaaaaaaaaaaaaaaa"},
                    {"label": "r", "token": "bbbbbbbbbbbbbbbb", "scopes": ["scale:read"]}]"#,
            )],
            false,
        ))
        .unwrap();
        let token = Principal::full("a");
        let grant = Principal::grant("oauth:a:g_1".into(), Scopes::ALL);
        assert!(!new(&token, &equal).private());
        assert!(new(&token, &unequal).private());
        assert!(new(&grant, &equal).private());
    }

    #[test]
    fn projects_intersect_and_never_widen() {
        let plain = cfg(&[]);
        let two = cfg(&[("SCALE_PROJECTS", "a,b")]);
        let v = view(Scopes::ALL, &two, "/mcp", &[]).unwrap();
        assert_eq!(v.projects().unwrap().names, ["a", "b"]);
        assert!(v.allows_project("b") && !v.allows_project("c"));
        assert!(
            !v.private(),
            "the server's own narrowing is the same for everyone"
        );

        let v = view(Scopes::ALL, &two, "/mcp/projects/b", &[]).unwrap();
        assert_eq!(
            v.projects().unwrap(),
            &ProjectScope {
                names: vec!["b".into()],
                source: Source::Path
            }
        );
        assert!(v.private());
        let v = view(
            Scopes::ALL,
            &plain,
            "/mcp",
            &[("x-scale-project", "=?base64?Y2Fmw6k=?=")],
        )
        .unwrap();
        assert_eq!(v.projects().unwrap().names, ["café"]);
        assert!(v.allows_project("café") && !v.allows_project("a"));

        for (c, path, h, want) in [
            (
                &two,
                "/mcp/projects/c",
                vec![],
                "not one of the projects this server allows",
            ),
            (
                &two,
                "/mcp",
                vec![("x-scale-project", "c")],
                "not one of the projects this server allows",
            ),
            (
                &plain,
                "/mcp/projects/a",
                vec![("x-scale-project", "b")],
                "name different projects",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-scale-project", " ")],
                "must name one project",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-scale-project", "=?base64?/w==?=")],
                "must name one project",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-mcp-readonly", "maybe")],
                "true or false",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-mcp-tools", "get_task,drop_tables")],
                "`drop_tables`, which is not a tool",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-mcp-exclude-tools", "nope")],
                "`nope`, which is not a tool",
            ),
            (
                &plain,
                "/mcp",
                vec![("x-mcp-tools", " , ")],
                "lists no tools",
            ),
        ] {
            let e = view(Scopes::ALL, c, path, &h).unwrap_err();
            assert!(e.contains(want), "{path} {h:?}: {e}");
        }
        // The same project in the path and the header is fine; an empty exclude list is nothing.
        let v = view(
            Scopes::ALL,
            &two,
            "/mcp/projects/a",
            &[("x-scale-project", "a"), ("x-mcp-exclude-tools", "")],
        )
        .unwrap();
        assert_eq!(v.projects().unwrap().names, ["a"]);
    }
}
