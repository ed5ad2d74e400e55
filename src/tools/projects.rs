//! Project tools: list, get, create, update (params, instruction, ontology).

use super::args::{args, d, enum_of, id, int, keys, task_type_decl, Args, Int};
use super::create::merged_body;
use super::error::ToolError;
use super::formats::task_type;
use super::kernel::{tool, Hints, ToolDef, ToolResult, CREATE, READ};
use super::run::{docs, object_or_ok, run_one, run_steps, Session, Step};
use super::shape::out;
use crate::context::Ctx;
use crate::json::object;
use crate::scale::{Call, Retry};
use serde_json::{Map, Value};

pub const TOOLS: &[ToolDef] = &[
    tool! {
        name: "list_projects",
        title: "List projects",
        description: "Lists the account's projects: GET /projects. `archived` true lists only archived projects, false only active ones; \
    omit it for all. Returns {projects}; each has its name, task type and param_history (the last entry holds the current parameters).",
        args: ListProjects,
        output: || out::schema(r#"{"type": "object", "required": ["projects"], "properties": {"projects": {"type": "array", "items": {"type": "object"}}}}"#),
        hints: READ,
        scope: Read,
        untrusted: &[],
        projects: ListProjects,
        run: list_projects,
    },
    tool! {
        name: "get_project",
        title: "Get project",
        description: "Fetches one project by name: GET /projects/{name}. Returns its type, creation time and param_history; the last param_history entry \
    is the version new tasks inherit (instruction, geometries, ...).",
        args: ProjectName,
        output: out::project,
        hints: READ,
        scope: Read,
        untrusted: &[],
        projects: GetProject,
        run: get_project,
    },
    tool! {
        name: "create_project",
        title: "Create project",
        description: "Creates a project: POST /projects. Every task in it has the same `type`; `params` holds default task parameters \
    (e.g. instruction, geometries) that tasks inherit. `rapid` or `studio` make a Rapid or Studio project (their batches need finalize_batch); \
    `pipeline` and `consensus_attempts` apply to Studio. Names are unique (409 if taken). Returns the project.",
        args: CreateProject,
        output: out::project,
        hints: CREATE,
        scope: Write,
        untrusted: &[],
        projects: Names("name"),
        run: create_project,
    },
    tool! {
        name: "update_project",
        title: "Update project",
        description: "Changes a project's defaults. `instruction` and/or `params` create a new parameter version: POST /projects/{name}/setParams \
    (with `patch` true the given params are merged over the current ones, otherwise they replace them); tasks created afterwards inherit it. \
    `ontology` (labels, optionally named by `ontology_name`) is set with POST /projects/{name}/setOntology, which Scale may not enable for every account. \
    Returns the project (after setParams) and the ontology answer; if the ontology step fails after setParams, the error says so.",
        args: UpdateProject,
        output: out::project_update,
        hints: Hints { read_only: false, destructive: false, idempotent: false, open_world: true },
        scope: Write,
        untrusted: &[],
        projects: Names("name"),
        run: update_project,
    },
];

args! {
    pub struct ListProjects {
        opt archived: bool = d("true: only archived; false: only active; omitted: all."),
    }
}

async fn list_projects(cx: &Ctx, a: ListProjects) -> ToolResult {
    let call = Call::get()
        .lit("projects")
        .query_opt("archived", a.archived.map(|b| b.to_string()));
    let v = Session::new(cx).send(&call, Retry::Idempotent, &[]).await?;
    let projects = match v {
        Value::Array(a) => a,
        // Tolerate a paged shape should Scale ever wrap the list.
        other => docs(other),
    };
    Ok(object(vec![("projects", Value::Array(projects))]).into())
}

args! {
    pub struct ProjectName {
        req name: String = id("Project name."),
    }
}

async fn get_project(cx: &Ctx, a: ProjectName) -> ToolResult {
    let call = Call::get().lit("projects").seg("name", &a.name)?;
    run_one(cx, call, Retry::Idempotent, &[]).await
}

args! {
    pub struct CreateProject {
        req r#type: String = task_type_decl("Task type of every task in the project, e.g. imageannotation."),
        req name: String = id("Project name, unique in the account."),
        opt params: Map<String, Value> = d("Default task parameters (instruction, geometries, ...)."),
        opt rapid: bool = d("Create a Scale Rapid project."),
        opt studio: bool = d("Create a Scale Studio project."),
        opt pipeline: String = enum_of(&["standard_task", "consensus_task"], "Studio pipeline."),
        opt consensus_attempts: Int = int(1, 100, "Labelers per task for a Studio consensus pipeline."),
    }
}

async fn create_project(cx: &Ctx, a: CreateProject) -> ToolResult {
    task_type("type", &a.r#type)?;
    if a.rapid == Some(true) && a.studio == Some(true) {
        return Err(ToolError::invalid(
            "`rapid` and `studio` exclude each other",
        ));
    }
    let call = Call::post()
        .lit("projects")
        .body(Value::Object(a.into_map()));
    let hints = [(
        409,
        "A project with that name already exists; get_project shows it.",
    )];
    run_one(cx, call, Retry::Never, &hints).await
}

args! {
    pub struct UpdateProject {
        req name: String = id("Project name."),
        opt instruction: String = d("New instructions for labelers."),
        opt params: Map<String, Value> = d("New default task parameters."),
        opt ontology: Vec<Value> = keys(r#"{"minItems": 1, "items": {"type": ["string", "object"]}, "description": "Label choices: strings or {choice, subchoices} objects."}"#),
        opt patch: bool = d("Merge params over the current version instead of replacing them."),
        opt ontology_name: String = d("A name for this ontology version."),
    }
}

const NO_ONTOLOGY_API: &str = "Scale may not offer ontology updates through the API for this account; edit the taxonomy in Scale's dashboard instead.";

const ONTOLOGY_HINTS: &[(u16, &str)] = &[
    (404, "No project has that name for this API key, or Scale does not offer ontology updates through the API for this account (get_project tells which); in the second case, edit the taxonomy in Scale's dashboard."),
    (403, NO_ONTOLOGY_API),
    (405, NO_ONTOLOGY_API),
];

/// The steps of update_project, in order.
pub fn update_project_steps(a: UpdateProject) -> Result<Vec<Step>, ToolError> {
    let sets_params = a.instruction.is_some() || a.params.is_some();
    if a.patch.is_some() && !sets_params {
        return Err(ToolError::invalid(
            "`patch` applies to `params`/`instruction`; give one of them too",
        ));
    }
    if a.ontology_name.is_some() && a.ontology.is_none() {
        return Err(ToolError::invalid(
            "`ontology_name` names an `ontology`; give the ontology too",
        ));
    }
    if !sets_params && a.ontology.is_none() {
        return Err(ToolError::invalid(
            "nothing to update: give at least one of instruction, params, ontology",
        ));
    }
    let mut steps = Vec::new();
    if sets_params {
        let mut given = Map::new();
        if let Some(i) = a.instruction {
            given.insert("instruction".into(), Value::String(i));
        }
        if let Some(p) = a.patch {
            given.insert("patch".into(), Value::Bool(p));
        }
        let body = merged_body(given, a.params, None)?;
        // setParams appends a version each time, so neither step is repeated blindly.
        steps.push(Step {
            name: "setParams",
            call: Call::post()
                .lit("projects")
                .seg("name", &a.name)?
                .lit("setParams")
                .body(Value::Object(body)),
            retry: Retry::Never,
            hints: &[],
        });
    }
    if let Some(o) = a.ontology {
        let mut body = object(vec![("ontology", Value::from(o))]);
        if let Some(n) = a.ontology_name {
            body["name"] = Value::from(n);
        }
        steps.push(Step {
            name: "setOntology",
            call: Call::post()
                .lit("projects")
                .seg("name", &a.name)?
                .lit("setOntology")
                .body(body),
            retry: Retry::Never,
            hints: ONTOLOGY_HINTS,
        });
    }
    Ok(steps)
}

async fn update_project(cx: &Ctx, a: UpdateProject) -> ToolResult {
    let mut out = object(vec![("name", Value::from(a.name.as_str()))]);
    let steps = update_project_steps(a)?;
    let s = Session::new(cx);
    for (step, v) in run_steps(&s, steps).await? {
        if step == "setParams" {
            out = object_or_ok(v);
        } else {
            out["ontology_update"] = object_or_ok(v);
        }
    }
    Ok(out.into())
}

#[cfg(test)]
#[path = "projects_tests.rs"]
mod tests;
