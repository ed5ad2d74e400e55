//! The team tool: list teammates, invite them, change their roles.

use super::{parse_args, s, Ctx, Hints, ToolDef, ToolError, ToolResult};
use crate::io::BoxFut;
use crate::scale::{Call, Retry, Scale};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn tools() -> Vec<ToolDef> {
    vec![ToolDef {
        name: "manage_team",
        title: "Manage team",
        description: "Lists, invites or re-roles the people on the Scale team. `list`: GET /teams. `invite`: POST /teams/invite sends invitations to `emails` \
with `role`. `set_role`: POST /teams/set_role changes the role of existing non-admin members. Roles: labeler (Studio only), member, manager. \
Only admins and managers may invite. Returns {teammates}: everyone on the team after the change (email, role, and expiry for pending invites).",
        input_schema: || {
            s::input(
                json!({
                    "action": s::enum_of(&["list", "invite", "set_role"], "What to do."),
                    "emails": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 3}, "description": "E-mail addresses (invite and set_role)."},
                    "role": s::enum_of(&["labeler", "member", "manager"], "Role to give (invite and set_role)."),
                }),
                &["action"],
            )
        },
        output_schema: || json!({"type": "object", "required": ["teammates"], "properties": {"teammates": {"type": "array", "items": {"type": "object"}}}}),
        // Changing a role can take access away, so clients should confirm.
        hints: Hints { read_only: false, destructive: true, idempotent: false, open_world: true },
        run: manage_team,
    }]
}

#[derive(Deserialize)]
struct Args {
    action: String,
    emails: Option<Vec<String>>,
    role: Option<String>,
}

pub fn manage_team_call(args: Map<String, Value>) -> Result<(Call, Retry), ToolError> {
    let a: Args = parse_args(args)?;
    if a.action == "list" {
        if a.emails.is_some() || a.role.is_some() {
            return Err(ToolError::invalid(
                "`emails` and `role` are only for the invite and set_role actions",
            ));
        }
        return Ok((Call::get().lit("teams"), Retry::Idempotent));
    }
    let (Some(emails), Some(role)) = (a.emails, a.role) else {
        return Err(ToolError::invalid(format!(
            "`emails` and `role` are required for action `{}`",
            a.action
        )));
    };
    if let Some(bad) = emails
        .iter()
        .find(|e| !e.contains('@') || e.chars().any(char::is_whitespace))
    {
        return Err(ToolError::invalid(format!(
            "`emails` must hold e-mail addresses (got `{}`)",
            crate::json::truncate(bad, 60)
        )));
    }
    let path = if a.action == "invite" {
        "invite"
    } else {
        "set_role"
    };
    Ok((
        Call::post()
            .lit("teams")
            .lit(path)
            .body(json!({"emails": emails, "team_role": role})),
        Retry::Never,
    ))
}

fn manage_team<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let (call, retry) = manage_team_call(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let v = sc
            .send(&call, retry)
            .await
            .map_err(|e| sc.tool_error(&call, e))?;
        let teammates = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("teammates") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Ok(json!({"teammates": teammates}).into())
    })
}
