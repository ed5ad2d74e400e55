//! Project tools: list, get, create, update (params, instruction, ontology).

use super::run_one;
use super::tasks::merged_body;
use super::{
    parse_args, run_steps, s, task_type, Ctx, Hints, Step, ToolDef, ToolError, ToolResult, CREATE,
    READ,
};
use crate::io::BoxFut;
use crate::scale::{object_or_ok, Call, Retry, Scale};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "list_projects",
            title: "List projects",
            description: "Lists the account's projects: GET /projects. `archived` true lists only archived projects, false only active ones; \
omit it for all. Returns {projects}; each has its name, task type and param_history (the last entry holds the current parameters).",
            input_schema: || s::input(json!({"archived": s::boolean("true: only archived; false: only active; omitted: all.")}), &[]),
            output_schema: || json!({"type": "object", "required": ["projects"], "properties": {"projects": {"type": "array", "items": {"type": "object"}}}}),
            hints: READ,
            run: list_projects,
        },
        ToolDef {
            name: "get_project",
            title: "Get project",
            description: "Fetches one project by name: GET /projects/{name}. Returns its type, creation time and param_history; the last param_history entry \
is the version new tasks inherit (instruction, geometries, ...).",
            input_schema: || s::input(json!({"name": s::id("Project name.")}), &["name"]),
            output_schema: s::project,
            hints: READ,
            run: get_project,
        },
        ToolDef {
            name: "create_project",
            title: "Create project",
            description: "Creates a project: POST /projects. Every task in it has the same `type`; `params` holds default task parameters \
(e.g. instruction, geometries) that tasks inherit. `rapid` or `studio` make a Rapid or Studio project (their batches need finalize_batch); \
`pipeline` and `consensus_attempts` apply to Studio. Names are unique (409 if taken). Returns the project.",
            input_schema: || {
                s::input(
                    json!({
                        "type": s::task_type("Task type of every task in the project, e.g. imageannotation."),
                        "name": s::id("Project name, unique in the account."),
                        "params": s::object("Default task parameters (instruction, geometries, ...)."),
                        "rapid": s::boolean("Create a Scale Rapid project."),
                        "studio": s::boolean("Create a Scale Studio project."),
                        "pipeline": s::enum_of(&["standard_task", "consensus_task"], "Studio pipeline."),
                        "consensus_attempts": s::int(1, 100, "Labelers per task for a Studio consensus pipeline."),
                    }),
                    &["type", "name"],
                )
            },
            output_schema: s::project,
            hints: CREATE,
            run: create_project,
        },
        ToolDef {
            name: "update_project",
            title: "Update project",
            description: "Changes a project's defaults. `instruction` and/or `params` create a new parameter version: POST /projects/{name}/setParams \
(with `patch` true the given params are merged over the current ones, otherwise they replace them); tasks created afterwards inherit it. \
`ontology` (labels, optionally named by `ontology_name`) is set with POST /projects/{name}/setOntology, which Scale may not enable for every account. \
Returns the project (after setParams) and the ontology answer; if the ontology step fails after setParams, the error says so.",
            input_schema: || {
                s::input(
                    json!({
                        "name": s::id("Project name."),
                        "instruction": s::string("New instructions for labelers."),
                        "params": s::object("New default task parameters."),
                        "ontology": {"type": "array", "minItems": 1, "items": {"type": ["string", "object"]}, "description": "Label choices: strings or {choice, subchoices} objects."},
                        "patch": s::boolean("Merge params over the current version instead of replacing them."),
                        "ontology_name": s::string("A name for this ontology version."),
                    }),
                    &["name"],
                )
            },
            output_schema: || {
                let mut p = s::project();
                p["properties"]["ontology_update"] = json!({"description": "Scale's answer to setOntology"});
                p
            },
            hints: Hints { read_only: false, destructive: false, idempotent: false, open_world: true },
            run: update_project,
        },
    ]
}

#[derive(Deserialize)]
struct ListArgs {
    archived: Option<bool>,
}

fn list_projects<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: ListArgs = parse_args(args)?;
        let call = Call::get()
            .lit("projects")
            .query_opt("archived", a.archived.map(|b| b.to_string()));
        let sc = Scale::new(cx.config, cx.upstream);
        let v = sc
            .send(&call, Retry::Idempotent)
            .await
            .map_err(|e| sc.tool_error(&call, e))?;
        let projects = match v {
            Value::Array(a) => a,
            // Tolerate a paged shape should Scale ever wrap the list.
            other => crate::scale::docs(other),
        };
        Ok(json!({"projects": projects}).into())
    })
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

fn get_project<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: Name = parse_args(args)?;
        run_one(
            cx,
            Call::get().lit("projects").seg("name", &a.name)?,
            Retry::Idempotent,
        )
        .await
    })
}

fn create_project<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        task_type(&args)?;
        if args.get("rapid") == Some(&json!(true)) && args.get("studio") == Some(&json!(true)) {
            return Err(ToolError::invalid(
                "`rapid` and `studio` exclude each other",
            ));
        }
        let call = Call::post().lit("projects").body(Value::Object(args)).hint(
            409,
            "A project with that name already exists; get_project shows it.",
        );
        run_one(cx, call, Retry::Never).await
    })
}

const NO_ONTOLOGY_API: &str = "Scale may not offer ontology updates through the API for this account; edit the taxonomy in Scale's dashboard instead.";

/// The steps of update_project, in order.
pub fn update_project_steps(args: &Map<String, Value>) -> Result<Vec<Step>, ToolError> {
    let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
    let has = |k: &str| args.contains_key(k);
    if has("patch") && !has("instruction") && !has("params") {
        return Err(ToolError::invalid(
            "`patch` applies to `params`/`instruction`; give one of them too",
        ));
    }
    if has("ontology_name") && !has("ontology") {
        return Err(ToolError::invalid(
            "`ontology_name` names an `ontology`; give the ontology too",
        ));
    }
    if !has("instruction") && !has("params") && !has("ontology") {
        return Err(ToolError::invalid(
            "nothing to update: give at least one of instruction, params, ontology",
        ));
    }
    let mut steps = Vec::new();
    if has("instruction") || has("params") {
        let body = merged_body(args, &["instruction", "patch"])?;
        // setParams appends a version each time, so neither step is repeated blindly.
        steps.push((
            "setParams",
            Call::post()
                .lit("projects")
                .seg("name", name)?
                .lit("setParams")
                .body(Value::Object(body)),
            Retry::Never,
        ));
    }
    if let Some(o) = args.get("ontology") {
        let mut body = json!({"ontology": o});
        if let Some(n) = args.get("ontology_name") {
            body["name"] = n.clone();
        }
        steps.push((
            "setOntology",
            Call::post()
                .lit("projects")
                .seg("name", name)?
                .lit("setOntology")
                .body(body)
                .hint(404, "No project has that name for this API key, or Scale does not offer ontology updates through the API for this account (get_project tells which); in the second case, edit the taxonomy in Scale's dashboard.")
                .hint(403, NO_ONTOLOGY_API)
                .hint(405, NO_ONTOLOGY_API),
            Retry::Never,
        ));
    }
    Ok(steps)
}

fn update_project<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let steps = update_project_steps(&args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let mut out = json!({"name": args.get("name")});
        for (step, v) in run_steps(&sc, steps).await? {
            if step == "setParams" {
                out = object_or_ok(v);
            } else {
                out["ontology_update"] = object_or_ok(v);
            }
        }
        Ok(out.into())
    })
}
