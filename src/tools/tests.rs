//! Native tests across the registry: names, documentation and schemas of
//! every tool, the argument contract, hostile path values, validation
//! messages, and the errors every Scale tool reports the same way.

use super::testing::*;
use super::*;
use crate::io::fakes::{block_on, json_response, text_response, FakeUpstream};
use crate::io::SendError;
use crate::scale::testing::{config, config_with, BASE, KEY, KEY_B64};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every tool's declaration as one JSON object (what tools/list is built from).
fn list_values() -> Vec<Value> {
    registry()
        .iter()
        .zip(input_schemas())
        .map(|(t, input)| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "inputSchema": input,
                "outputSchema": (t.output_schema)(),
                "annotations": {
                    "title": t.title,
                    "readOnlyHint": t.hints.read_only,
                    "destructiveHint": t.hints.destructive,
                    "idempotentHint": t.hints.idempotent,
                    "openWorldHint": t.hints.open_world,
                },
            })
        })
        .collect()
}

#[test]
fn registry_names_are_unique_and_well_formed() {
    let names: Vec<&str> = registry().iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "create_task",
            "create_evaluation_task",
            "get_task",
            "list_tasks",
            "cancel_task",
            "update_task",
            "resend_callback",
            "create_tasks",
            "create_batch",
            "get_batch",
            "list_batches",
            "finalize_batch",
            "wait_for_task",
            "wait_for_batch",
            "list_projects",
            "get_project",
            "create_project",
            "update_project",
            "manage_team",
            "import_file",
            "list_callbacks",
            "get_callback",
            "get_task_attachment",
        ]
    );
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
    for n in &names {
        assert!(n.len() <= 64 && !n.is_empty(), "{n}");
        assert!(
            n.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
            "{n}"
        );
        assert_eq!(find(n).map(|(_, t)| t.name), Some(*n));
    }
    assert!(find("nope").is_none());
}

#[test]
fn every_tool_is_documented_with_valid_schemas() {
    let listed = list_values();
    for t in &listed {
        let name = t["name"].as_str().unwrap();
        assert!(
            t["title"].as_str().is_some_and(|s| !s.trim().is_empty()),
            "{name}"
        );
        assert_eq!(t["annotations"]["title"], t["title"], "{name}");
        let d = t["description"].as_str().unwrap();
        assert!(d.len() > 80, "{name}: description too short");
        let input = &t["inputSchema"];
        assert_eq!(input["type"], "object", "{name}");
        assert_eq!(input["additionalProperties"], false, "{name}");
        let props = input["properties"].as_object().expect("properties");
        for r in input["required"].as_array().into_iter().flatten() {
            assert!(props.contains_key(r.as_str().unwrap()), "{name}: {r}");
        }
        for (k, p) in props {
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}.{k} has no description"
            );
            assert!(p.get("type").is_some(), "{name}.{k} has no type");
        }
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
        for h in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(t["annotations"][h].is_boolean(), "{name}: {h}");
        }
    }
}

#[test]
fn arguments_match_the_contract() {
    let want: &[(&str, &[&str], &[&str])] = &[
        (
            "create_task",
            &[
                "type",
                "project",
                "batch",
                "instruction",
                "callback_url",
                "attachment",
                "attachment_type",
                "unique_id",
                "metadata",
                "tags",
                "params",
            ],
            &["type"],
        ),
        (
            "create_evaluation_task",
            &[
                "type",
                "expected_response",
                "initial_response",
                "project",
                "batch",
                "params",
            ],
            &["type", "expected_response"],
        ),
        ("get_task", &["task_id"], &["task_id"]),
        (
            "list_tasks",
            &[
                "project",
                "batch",
                "status",
                "type",
                "tags",
                "unique_id",
                "customer_review_status",
                "created_after",
                "created_before",
                "completed_after",
                "completed_before",
                "updated_after",
                "updated_before",
                "limit",
                "next_token",
                "limited_response",
                "include_attachment_url",
            ],
            &[],
        ),
        ("cancel_task", &["task_id", "clear_unique_id"], &["task_id"]),
        (
            "update_task",
            &[
                "task_id",
                "metadata",
                "set_tags",
                "add_tags",
                "remove_tags",
                "unique_id",
                "clear_unique_id",
            ],
            &["task_id"],
        ),
        ("resend_callback", &["task_id"], &["task_id"]),
        (
            "create_tasks",
            &[
                "type",
                "items",
                "items_url",
                "project",
                "batch",
                "idempotency_key",
            ],
            &["type"],
        ),
        (
            "create_batch",
            &[
                "project",
                "name",
                "callback",
                "calibration_batch",
                "self_label_batch",
                "metadata",
            ],
            &["project", "name"],
        ),
        ("get_batch", &["name"], &["name"]),
        (
            "list_batches",
            &[
                "project",
                "status",
                "created_after",
                "created_before",
                "completed_after",
                "completed_before",
                "limit",
                "offset",
                "detailed",
            ],
            &[],
        ),
        ("finalize_batch", &["name", "priority"], &["name"]),
        ("wait_for_task", &["task_id", "timeout_s"], &["task_id"]),
        ("wait_for_batch", &["name", "timeout_s"], &["name"]),
        ("list_projects", &["archived"], &[]),
        ("get_project", &["name"], &["name"]),
        (
            "create_project",
            &[
                "type",
                "name",
                "params",
                "rapid",
                "studio",
                "pipeline",
                "consensus_attempts",
            ],
            &["type", "name"],
        ),
        (
            "update_project",
            &[
                "name",
                "instruction",
                "params",
                "ontology",
                "patch",
                "ontology_name",
            ],
            &["name"],
        ),
        ("manage_team", &["action", "emails", "role"], &["action"]),
        ("import_file", &["file_url", "project_name"], &["file_url"]),
        (
            "list_callbacks",
            &["task_id", "batch", "status", "limit", "cursor"],
            &[],
        ),
        ("get_callback", &["id"], &["id"]),
        ("get_task_attachment", &["task_id", "offset"], &["task_id"]),
    ];
    let listed = list_values();
    assert_eq!(listed.len(), want.len());
    for (name, props, required) in want {
        let t = listed.iter().find(|t| t["name"] == *name).unwrap();
        let got: BTreeSet<&str> = t["inputSchema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(got, props.iter().copied().collect(), "{name}");
        let req: Vec<&str> = t["inputSchema"]["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(req, *required, "{name}");
    }
    // Enums and bounds.
    let prop = |tool: &str, p: &str| -> Value {
        listed.iter().find(|t| t["name"] == tool).unwrap()["inputSchema"]["properties"][p].clone()
    };
    assert_eq!(
        prop("list_tasks", "status")["enum"],
        json!(["pending", "completed", "canceled", "error"])
    );
    assert_eq!(
        prop("list_batches", "status")["enum"],
        json!(["staging", "in_progress", "completed"])
    );
    assert_eq!(
        prop("manage_team", "action")["enum"],
        json!(["list", "invite", "set_role"])
    );
    assert_eq!(
        prop("manage_team", "role")["enum"],
        json!(["labeler", "member", "manager"])
    );
    assert_eq!(
        prop("create_project", "pipeline")["enum"],
        json!(["standard_task", "consensus_task"])
    );
    for (tool, p, min, max) in [
        ("list_tasks", "limit", 1, 100),
        ("list_batches", "limit", 1, 100),
        ("list_callbacks", "limit", 1, 100),
        ("finalize_batch", "priority", 10, 30),
        ("wait_for_task", "timeout_s", 1, 45),
        ("wait_for_batch", "timeout_s", 1, 45),
    ] {
        let s = prop(tool, p);
        assert_eq!(s["type"], "integer", "{tool}.{p}");
        assert_eq!(
            (s["minimum"].as_i64(), s["maximum"].as_i64()),
            (Some(min), Some(max)),
            "{tool}.{p}"
        );
    }
}

#[test]
fn hints_are_exactly_as_specified() {
    // (name, readOnly, destructive, idempotent, openWorld)
    let want: &[(&str, bool, bool, bool, bool)] = &[
        ("create_task", false, false, false, true),
        ("create_evaluation_task", false, false, false, true),
        ("get_task", true, false, true, true),
        ("list_tasks", true, false, true, true),
        ("cancel_task", false, true, true, true),
        ("update_task", false, true, true, true),
        ("resend_callback", false, false, false, true),
        ("create_tasks", false, false, true, true),
        ("create_batch", false, false, false, true),
        ("get_batch", true, false, true, true),
        ("list_batches", true, false, true, true),
        ("finalize_batch", false, false, true, true),
        ("wait_for_task", true, false, true, true),
        ("wait_for_batch", true, false, true, true),
        ("list_projects", true, false, true, true),
        ("get_project", true, false, true, true),
        ("create_project", false, false, false, true),
        ("update_project", false, false, false, true),
        ("manage_team", false, true, false, true),
        ("import_file", false, false, false, true),
        // The log holds what Scale and labelers wrote: open-world
        // (docs/permissions.md §5).
        ("list_callbacks", true, false, true, true),
        ("get_callback", true, false, true, true),
        // Reads a host the task names.
        ("get_task_attachment", true, false, true, true),
    ];
    let listed = list_values();
    assert_eq!(listed.len(), want.len());
    for (t, (name, ro, d, i, ow)) in listed.iter().zip(want) {
        assert_eq!(t["name"], *name);
        let a = &t["annotations"];
        assert_eq!(
            (
                a["readOnlyHint"].as_bool(),
                a["destructiveHint"].as_bool(),
                a["idempotentHint"].as_bool(),
                a["openWorldHint"].as_bool()
            ),
            (Some(*ro), Some(*d), Some(*i), Some(*ow)),
            "{name}"
        );
    }
}

#[test]
fn unknown_tool_is_a_protocol_error() {
    let cfg = config();
    let up = FakeUpstream::new();
    let cx = Ctx::full_access(cfg, crate::io::fakes::services(&up, None));
    let e = block_on(call(&cx, "delete_everything", Map::new())).unwrap_err();
    assert_eq!(e, UnknownTool("delete_everything".into()));
    assert!(
        e.to_string().contains("unknown tool `delete_everything`"),
        "{e}"
    );
    assert!(up.requests.borrow().is_empty());
}

struct PathTool {
    tool: &'static str,
    args: fn(&str) -> Value,
    paths: &'static [&'static [&'static str]],
}

fn path_tools() -> Vec<PathTool> {
    vec![
        PathTool {
            tool: "get_task",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}"]],
        },
        PathTool {
            tool: "cancel_task",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}", "cancel"]],
        },
        PathTool {
            tool: "update_task",
            args: |v| json!({"task_id": v, "metadata": {"a": 1}, "add_tags": ["t"]}),
            paths: &[&["task", "{}", "setMetadata"], &["task", "{}", "tags"]],
        },
        PathTool {
            tool: "resend_callback",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}", "send-callback"]],
        },
        PathTool {
            tool: "get_batch",
            args: |v| json!({"name": v}),
            paths: &[&["batches", "{}"], &["batches", "{}", "status"]],
        },
        PathTool {
            tool: "finalize_batch",
            args: |v| json!({"name": v, "priority": 12}),
            paths: &[
                &["batches", "{}", "finalize"],
                &["batches", "{}", "prioritize"],
            ],
        },
        PathTool {
            tool: "get_project",
            args: |v| json!({"name": v}),
            paths: &[&["projects", "{}"]],
        },
        PathTool {
            tool: "update_project",
            args: |v| json!({"name": v, "instruction": "x", "ontology": ["a"]}),
            paths: &[
                &["projects", "{}", "setParams"],
                &["projects", "{}", "setOntology"],
            ],
        },
    ]
}

#[test]
fn hostile_path_values_stay_one_segment() {
    let accepted: Vec<String> = vec![
        "../projects".into(),
        "../../v2/tasks".into(),
        "a/b".into(),
        "/".into(),
        "a?b=c".into(),
        "a#b".into(),
        "a\\b".into(),
        "..\\..".into(),
        "%2F".into(),
        "%2e%2e".into(),
        "a%00b".into(),
        "a\nb\r\u{0}\u{7f}".into(),
        "é日😀".into(),
        " ".into(),
        "...".into(),
        ".a".into(),
        "a".repeat(1024),
    ];
    for pt in path_tools() {
        for v in &accepted {
            let (r, reqs) = run(pt.tool, (pt.args)(v), json!({"name": "x"}));
            ok(&r);
            assert_eq!(reqs.len(), pt.paths.len(), "{} {v:?}", pt.tool);
            for (req, template) in reqs.iter().zip(pt.paths) {
                let path = req.url.strip_prefix(BASE).expect("base URL kept");
                assert!(
                    !path.contains(['?', '#']),
                    "{} {v:?}: query or fragment in {path}",
                    pt.tool
                );
                let segs: Vec<&str> = path.strip_prefix('/').unwrap().split('/').collect();
                assert_eq!(segs.len(), template.len(), "{} {v:?}: {path}", pt.tool);
                for (s, t) in segs.iter().zip(template.iter()) {
                    if *t == "{}" {
                        assert_eq!(percent_decode(s), v.as_bytes(), "{} {v:?}", pt.tool);
                        assert!(
                            s.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"-_.~%".contains(&c)),
                            "{} {v:?}: {s}",
                            pt.tool
                        );
                        assert!(*s != "." && *s != "..");
                    } else {
                        assert_eq!(s, t, "{} {v:?}", pt.tool);
                    }
                }
            }
        }
    }
}

#[test]
fn hostile_path_values_that_cannot_be_a_segment_are_refused() {
    let refused: &[(String, &str)] = &[
        ("".into(), "must not be empty"),
        (".".into(), "cannot be `.`"),
        ("..".into(), "cannot be `..`"),
        ("a".repeat(1025), "at most 1024 characters"),
        // 400 characters but 1200 bytes.
        ("日".repeat(400), "too long (1200 bytes"),
    ];
    for pt in path_tools() {
        for (v, why) in refused {
            let arg = if (pt.args)("x").get("task_id").is_some() {
                "task_id"
            } else {
                "name"
            };
            invalid(pt.tool, (pt.args)(v), &[&format!("`{arg}`"), why]);
        }
    }
}

#[test]
fn exact_encodings_of_hostile_values() {
    let cases = [
        ("../projects", "/task/..%2Fprojects"),
        ("a/b", "/task/a%2Fb"),
        ("a?b=c", "/task/a%3Fb%3Dc"),
        ("a#b", "/task/a%23b"),
        ("a\\b", "/task/a%5Cb"),
        ("%2F", "/task/%252F"),
        ("a\u{1}b\n", "/task/a%01b%0A"),
        ("é", "/task/%C3%A9"),
    ];
    for (v, path) in cases {
        let (r, reqs) = run("get_task", json!({"task_id": v}), json!({}));
        ok(&r);
        assert_req(&reqs[0], "GET", path, None);
    }
}

#[test]
fn task_types_must_be_one_plain_segment() {
    for tool in ["create_task", "create_evaluation_task", "create_project"] {
        for bad in [
            "Image Annotation",
            "a/b",
            "../task",
            "image_annotation",
            "ImageAnnotation",
            "é",
            "a.b",
            "a%2Fb",
        ] {
            let args = json!({"type": bad, "name": "n", "expected_response": {}});
            let mut args = args.as_object().unwrap().clone();
            if tool == "create_task" {
                args.remove("name");
                args.remove("expected_response");
            } else if tool == "create_evaluation_task" {
                args.remove("name");
            } else {
                args.remove("expected_response");
            }
            invalid(
                tool,
                Value::Object(args),
                &["`type` must be a Scale task type"],
            );
        }
    }
    invalid(
        "create_task",
        json!({"type": ""}),
        &["`type` must not be empty"],
    );
    invalid(
        "create_task",
        json!({"type": "a".repeat(65)}),
        &["`type` must be at most 64 characters"],
    );
    // New types Scale adds work without a code change.
    let (r, reqs) = run("create_task", json!({"type": "newtype2027"}), json!({}));
    ok(&r);
    assert_req(&reqs[0], "POST", "/task/newtype2027", Some(json!({})));
}

#[test]
fn query_values_are_encoded_not_interpreted() {
    let (_, reqs) = run(
        "list_tasks",
        json!({"project": "a&limit=1000#x", "batch": "../b", "next_token": "%2F?"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?project=a%26limit%3D1000%23x&batch=..%2Fb&limit=10&next_token=%252F%3F",
        None,
    );
}

#[test]
fn missing_unknown_and_mistyped_arguments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("create_task", json!({}), "missing required argument `type`"),
        (
            "create_task",
            json!({"type": null}),
            "missing required argument `type`",
        ),
        (
            "create_evaluation_task",
            json!({"type": "x"}),
            "missing required argument `expected_response`",
        ),
        ("get_task", json!({}), "missing required argument `task_id`"),
        (
            "cancel_task",
            json!({}),
            "missing required argument `task_id`",
        ),
        (
            "update_task",
            json!({"metadata": {}}),
            "missing required argument `task_id`",
        ),
        (
            "resend_callback",
            json!({}),
            "missing required argument `task_id`",
        ),
        (
            "create_batch",
            json!({"project": "p"}),
            "missing required argument `name`",
        ),
        (
            "create_batch",
            json!({"name": "b"}),
            "missing required argument `project`",
        ),
        ("get_batch", json!({}), "missing required argument `name`"),
        (
            "finalize_batch",
            json!({}),
            "missing required argument `name`",
        ),
        ("get_project", json!({}), "missing required argument `name`"),
        (
            "create_project",
            json!({"type": "x"}),
            "missing required argument `name`",
        ),
        (
            "update_project",
            json!({"instruction": "x"}),
            "missing required argument `name`",
        ),
        (
            "manage_team",
            json!({}),
            "missing required argument `action`",
        ),
        (
            "import_file",
            json!({}),
            "missing required argument `file_url`",
        ),
        ("get_callback", json!({}), "missing required argument `id`"),
        (
            "get_task",
            json!({"task_id": "t", "taskId": "t"}),
            "unknown argument `taskId`",
        ),
        ("list_tasks", json!({"page": 2}), "unknown argument `page`"),
        (
            "create_batch",
            json!({"project": "p", "name": "b", "callback_url": "x"}),
            "unknown argument `callback_url`",
        ),
        (
            "list_tasks",
            json!({"start_time": "2026-01-01"}),
            "unknown argument `start_time`",
        ),
        (
            "get_task",
            json!({"task_id": 5}),
            "`task_id` must be a string (got integer)",
        ),
        (
            "get_task",
            json!({"task_id": ["t"]}),
            "`task_id` must be a string (got array)",
        ),
        (
            "create_task",
            json!({"type": "x", "metadata": "m"}),
            "`metadata` must be an object (got string)",
        ),
        (
            "create_task",
            json!({"type": "x", "params": []}),
            "`params` must be an object (got array)",
        ),
        (
            "create_task",
            json!({"type": "x", "tags": "a"}),
            "`tags` must be an array (got string)",
        ),
        (
            "create_task",
            json!({"type": "x", "tags": [1]}),
            "`tags[0]` must be a string (got integer)",
        ),
        (
            "list_tasks",
            json!({"limited_response": "true"}),
            "`limited_response` must be a boolean (got string)",
        ),
        (
            "list_tasks",
            json!({"limit": "10"}),
            "`limit` must be an integer (got string)",
        ),
        (
            "list_tasks",
            json!({"limit": 2.5}),
            "`limit` must be an integer (got number)",
        ),
        (
            "cancel_task",
            json!({"task_id": "t", "clear_unique_id": 1}),
            "`clear_unique_id` must be a boolean",
        ),
        (
            "list_batches",
            json!({"detailed": "yes"}),
            "`detailed` must be a boolean",
        ),
        (
            "finalize_batch",
            json!({"name": "b", "priority": "20"}),
            "`priority` must be an integer",
        ),
        (
            "list_projects",
            json!({"archived": "no"}),
            "`archived` must be a boolean",
        ),
        (
            "update_project",
            json!({"name": "p", "ontology": "a"}),
            "`ontology` must be an array",
        ),
        (
            "update_project",
            json!({"name": "p", "ontology": [1]}),
            "`ontology[0]` must be a string or object",
        ),
        (
            "update_task",
            json!({"task_id": "t", "metadata": [1]}),
            "`metadata` must be an object",
        ),
        (
            "update_task",
            json!({"task_id": "t", "unique_id": ""}),
            "`unique_id` must not be empty",
        ),
        (
            "manage_team",
            json!({"action": "invite", "emails": "a@x.test", "role": "member"}),
            "`emails` must be an array",
        ),
        (
            "import_file",
            json!({"file_url": ""}),
            "`file_url` must not be empty",
        ),
        ("get_callback", json!({"id": ""}), "`id` must not be empty"),
        (
            "list_callbacks",
            json!({"task_id": 3}),
            "`task_id` must be a string",
        ),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn enum_and_bound_violations() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("list_tasks", json!({"status": "done"}), "`status` must be one of: pending, completed, canceled, error"),
        ("list_tasks", json!({"customer_review_status": ["approved"]}), "`customer_review_status[0]` must be one of: pending, fixed, accepted, rejected, commented"),
        ("list_batches", json!({"status": "paused"}), "`status` must be one of: staging, in_progress, completed"),
        ("create_project", json!({"type": "x", "name": "n", "pipeline": "fast"}), "`pipeline` must be one of: standard_task, consensus_task"),
        ("manage_team", json!({"action": "delete"}), "`action` must be one of: list, invite, set_role"),
        ("manage_team", json!({"action": "invite", "emails": ["a@x.test"], "role": "admin"}), "`role` must be one of: labeler, member, manager"),
        ("list_tasks", json!({"limit": 0}), "`limit` must be from 1 to 100 (got 0)"),
        ("list_tasks", json!({"limit": 101}), "`limit` must be from 1 to 100 (got 101)"),
        ("list_tasks", json!({"limit": -5}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"limit": 0}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"limit": 101}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"offset": -1}), "`offset` must be from 0 to 1000000000"),
        ("list_callbacks", json!({"limit": 0}), "`limit` must be from 1 to 100"),
        ("list_callbacks", json!({"limit": 101}), "`limit` must be from 1 to 100"),
        ("finalize_batch", json!({"name": "b", "priority": 9}), "`priority` must be from 10 to 30 (got 9)"),
        ("finalize_batch", json!({"name": "b", "priority": 31}), "`priority` must be from 10 to 30 (got 31)"),
        ("create_project", json!({"type": "x", "name": "n", "consensus_attempts": 0}), "`consensus_attempts` must be from 1 to 100"),
        ("update_project", json!({"name": "p", "ontology": []}), "`ontology` must have at least 1 item"),
        ("manage_team", json!({"action": "invite", "emails": [], "role": "member"}), "`emails` must have at least 1 item"),
        ("manage_team", json!({"action": "invite", "emails": ["ab"], "role": "member"}), "`emails[0]` must be at least 3 characters"),
        ("get_callback", json!({"id": "x".repeat(65)}), "`id` must be at most 64 characters"),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn exclusive_and_dependent_arguments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("update_task", json!({"task_id": "t", "set_tags": ["a"], "add_tags": ["b"]}), "`set_tags` replaces all tags, so it cannot be combined with `add_tags` or `remove_tags`"),
        ("update_task", json!({"task_id": "t", "set_tags": ["a"], "remove_tags": ["b"]}), "cannot be combined with `add_tags` or `remove_tags`"),
        ("update_task", json!({"task_id": "t", "unique_id": "u", "clear_unique_id": true}), "`unique_id` and `clear_unique_id` exclude each other"),
        ("update_task", json!({"task_id": "t"}), "nothing to update"),
        ("update_task", json!({"task_id": "t", "clear_unique_id": false}), "nothing to update"),
        ("update_task", json!({"task_id": "t", "metadata": null}), "nothing to update"),
        ("create_project", json!({"type": "x", "name": "n", "rapid": true, "studio": true}), "`rapid` and `studio` exclude each other"),
        ("manage_team", json!({"action": "invite"}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "invite", "emails": ["a@x.test"]}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "invite", "role": "member"}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "set_role", "emails": ["a@x.test"]}), "`emails` and `role` are required for action `set_role`"),
        ("manage_team", json!({"action": "list", "emails": ["a@x.test"]}), "`emails` and `role` are only for the invite and set_role actions"),
        ("manage_team", json!({"action": "list", "role": "member"}), "only for the invite and set_role actions"),
        ("manage_team", json!({"action": "invite", "emails": ["not-an-email"], "role": "member"}), "`emails` must hold e-mail addresses (got `not-an-email`)"),
        ("manage_team", json!({"action": "set_role", "emails": ["a b@x.test"], "role": "member"}), "`emails` must hold e-mail addresses"),
        ("update_project", json!({"name": "p"}), "nothing to update: give at least one of instruction, params, ontology"),
        ("update_project", json!({"name": "p", "patch": true}), "`patch` applies to `params`/`instruction`"),
        ("update_project", json!({"name": "p", "patch": true, "ontology": ["a"]}), "`patch` applies to `params`/`instruction`"),
        ("update_project", json!({"name": "p", "ontology_name": "v"}), "`ontology_name` names an `ontology`"),
        ("update_project", json!({"name": "p", "instruction": "x", "ontology_name": "v"}), "`ontology_name` names an `ontology`"),
        ("update_project", json!({"name": "p", "instruction": "x", "params": {"instruction": "y"}}), "`params.instruction` duplicates the `instruction` argument"),
        ("update_project", json!({"name": "p", "params": {"patch": true}, "patch": false}), "`params.patch` duplicates the `patch` argument"),
        ("import_file", json!({"file_url": "example.com/a.jpg"}), "`file_url` must be a URL"),
        ("import_file", json!({"file_url": "https://x.test/a b.jpg"}), "`file_url` must be a URL"),
        ("create_batch", json!({"project": "p", "name": ".."}), "`name` cannot be `..`"),
        ("create_batch", json!({"project": "p", "name": ""}), "`name` must not be empty"),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn bad_dates_are_refused() {
    for bad in [
        "yesterday",
        "",
        "2026",
        "2026-01",
        "2026-1-01",
        "2026/01/01",
        "01-01-2026",
        "2026-01-01Tnoon!",
        "2026-01-01 12:00; DROP",
        "2026-01-01x",
    ] {
        for arg in [
            "created_after",
            "created_before",
            "completed_after",
            "completed_before",
            "updated_after",
            "updated_before",
        ] {
            invalid(
                "list_tasks",
                json!({ arg: bad }),
                &[&format!("`{arg}` must be an ISO 8601 date or date-time")],
            );
        }
        for arg in [
            "created_after",
            "created_before",
            "completed_after",
            "completed_before",
        ] {
            invalid(
                "list_batches",
                json!({ arg: bad }),
                &[&format!("`{arg}` must be an ISO 8601 date or date-time")],
            );
        }
    }
    for good in [
        "2026-01-31",
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00.123+05:30",
        "2026-01-31 12:00",
    ] {
        let (r, _) = run("list_tasks", json!({"updated_after": good}), json!({}));
        ok(&r);
    }
}

#[test]
fn non_object_answers_are_wrapped() {
    let (r, _) = run("get_task", json!({"task_id": "t"}), json!(["odd"]));
    assert_eq!(ok(&r), json!({"result": ["odd"]}));
    let (r, _) = run("get_project", json!({"name": "p"}), json!("OK"));
    assert_eq!(ok(&r), json!({"result": "OK"}));
}

#[test]
fn non_json_2xx_is_an_error_naming_the_call() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/html", "<html>login</html>")));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t1"})));
    assert!(
        t.contains(
            "Scale answered 200 with a body that is not JSON (text/html): <html>login</html>"
        ),
        "{t}"
    );
    assert!(t.ends_with("(for GET /task/t1)"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn scale_errors_carry_status_message_and_hint() {
    let cases: &[(u16, &str, &str)] = &[
        (400, "Bad Request", "fix the arguments"),
        (401, "Unauthorized", "SCALE_API_KEY"),
        (402, "Payment Required", "task type is not enabled"),
        (404, "Not Found", "live and test keys see separate data"),
        (409, "Conflict", "already exists"),
        (429, "Too Many Requests", "rate limiting"),
        (500, "Internal Server Error", "try again later"),
    ];
    for (status, reason, hint) in cases {
        let up = FakeUpstream::new();
        let s = *status;
        up.respond_with(move |_| {
            Ok(json_response(
                s,
                &json!({"status_code": s, "error": format!("Scale error text {s}")}),
            ))
        });
        let t = err(&run_on(&up, "get_task", json!({"task_id": "abc"})));
        assert!(
            t.starts_with(&format!(
                "Scale returned {status} {reason} for GET /task/abc: Scale error text {status}\nHint: "
            )),
            "{t}"
        );
        assert!(t.contains(hint), "{status}: {t}");
        let attempts = if matches!(status, 429 | 500) { 3 } else { 1 };
        assert_eq!(up.requests.borrow().len(), attempts, "{status}");
    }
}

#[test]
fn every_scale_tool_reports_scale_errors() {
    for (tool, args) in valid_calls() {
        let up = FakeUpstream::new();
        up.respond_with(|_| {
            Ok(json_response(
                404,
                &json!({"status_code": 404, "error": "Nothing here"}),
            ))
        });
        let t = err(&run_on(&up, tool, args));
        assert!(
            t.contains("Scale returned 404 Not Found for "),
            "{tool}: {t}"
        );
        assert!(
            t.contains(": Nothing here\nHint: Nothing with that id or name exists"),
            "{tool}: {t}"
        );
        assert_eq!(up.requests.borrow().len(), 1, "{tool}: 404 is not retried");
    }
}

#[test]
fn every_scale_tool_succeeds_on_valid_arguments() {
    for (tool, args) in valid_calls() {
        if tool == "get_task_attachment" {
            // It reads a host outside Scale too: attachments_tests.rs.
            continue;
        }
        let (r, reqs) = run(tool, args, json!({"name": "x", "docs": []}));
        ok(&r);
        assert!(!reqs.is_empty(), "{tool}");
        for req in &reqs {
            assert!(req.url.starts_with(BASE), "{tool}");
            assert_eq!(header(req, "authorization"), Some(AUTH), "{tool}");
        }
    }
}

#[test]
fn the_key_is_scrubbed_when_scale_echoes_it() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            401,
            &json!({"status_code": 401, "error": format!("Invalid key {KEY} ({KEY_B64})")}),
        ))
    });
    // check_result fails the test if the key shows.
    let t = err(&run_on(&up, "list_projects", json!({})));
    assert!(t.contains("Invalid key [redacted] ([redacted])"), "{t}");
    let up = FakeUpstream::new();
    up.respond_with(|_| Err(SendError::Network(format!("proxy said Basic {KEY_B64}"))));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t"})));
    assert!(
        t.contains(
            "Could not reach Scale at api.test for GET /task/t: proxy said Basic [redacted]"
        ),
        "{t}"
    );
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", &format!("key={KEY}"))));
    let t = err(&run_on(&up, "get_project", json!({"name": "p"})));
    assert!(t.contains("key=[redacted]"), "{t}");
}

#[test]
fn missing_key_refuses_every_scale_tool_without_a_request() {
    let cfg = config_with(&[("SCALE_API_KEY", "")]);
    for (tool, args) in valid_calls() {
        let up = FakeUpstream::new();
        up.respond_with(|_| Ok(json_response(200, &json!({}))));
        let t = err(&exec(&cfg, &up, None, tool, args));
        assert!(t.contains("SCALE_API_KEY is not set"), "{tool}: {t}");
        assert!(
            t.contains("wrangler secret put SCALE_API_KEY"),
            "{tool}: {t}"
        );
        assert!(up.requests.borrow().is_empty(), "{tool}");
    }
}

#[test]
fn api_base_is_the_configured_one() {
    let cfg = config_with(&[("SCALE_API_BASE", "http://127.0.0.1:8787/v1/")]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({}))));
    ok(&exec(&cfg, &up, None, "get_task", json!({"task_id": "t"})));
    assert_eq!(up.sent()[0].url, "http://127.0.0.1:8787/v1/task/t");
}

#[test]
fn calls_of_one_request_share_its_subrequest_limit() {
    let cfg = config_with(&[("SUBREQUEST_LIMIT", "3")]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"task_id": "t1"}))));
    let cx = Ctx::full_access(cfg, crate::io::fakes::services(&up, None));
    let run = |tool: &str, args: Value| {
        block_on(call(&cx, tool, args.as_object().unwrap().clone())).unwrap()
    };
    for _ in 0..3 {
        assert!(run("get_task", json!({"task_id": "t1"})).is_ok());
    }
    let e = run("get_task", json!({"task_id": "t1"})).unwrap_err();
    assert!(
        e.message.contains("already made 3 requests to Scale")
            && e.message.contains("SUBREQUEST_LIMIT")
            && e.message.contains("in a new request"),
        "{}",
        e.message
    );
    assert_eq!(up.requests.borrow().len(), 3);
}

#[test]
fn the_platforms_subrequest_limit_stops_the_request_without_a_retry() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Err(SendError::SubrequestLimit));
    let cx = Ctx::full_access(config(), crate::io::fakes::services(&up, None));
    let run = |tool: &str, args: Value| {
        block_on(call(&cx, tool, args.as_object().unwrap().clone())).unwrap()
    };
    let e = run("get_task", json!({"task_id": "t1"})).unwrap_err();
    assert!(
        e.message.contains("SUBREQUEST_LIMIT") && e.message.contains("in a new request"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("Could not reach"), "{}", e.message);
    assert_eq!(
        up.requests.borrow().len(),
        1,
        "not retried as a network error"
    );
    assert!(up.sleeps.borrow().is_empty());
    // Nothing more is sent in this request.
    assert!(run("list_projects", json!({})).is_err());
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn answers_above_scale_max_response_bytes_are_refused_with_advice() {
    let cfg = config_with(&[("SCALE_MAX_RESPONSE_BYTES", "65536")]);
    let up = FakeUpstream::new();
    let big = json!({"docs": [{"task_id": "t", "response": "r".repeat(70_000)}], "total": 1});
    up.respond_with(move |_| Ok(json_response(200, &big)));
    let t = err(&exec(&cfg, &up, None, "list_tasks", json!({"limit": 100})));
    for part in [
        "GET /tasks",
        "larger than 65536 bytes",
        "SCALE_MAX_RESPONSE_BYTES",
        "smaller `limit`",
        "limited_response",
    ] {
        assert!(t.contains(part), "{part}: {t}");
    }
    assert_eq!(up.requests.borrow().len(), 1, "not retried");
    // Every request carries the cap for the edge to apply.
    assert!(up.sent().iter().all(|r| r.max_response_bytes == 65_536));
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({}))));
    ok(&run_on(&up, "get_task", json!({"task_id": "t"})));
    assert_eq!(up.sent()[0].max_response_bytes, 8 * 1024 * 1024);
}

#[test]
fn every_tool_result_is_held_to_the_result_limit() {
    // A single task far above 200 KB (a lidar response, say).
    let task = json!({"task_id": "t1", "status": "completed", "params": {"p": "q".repeat(50_000)},
        "response": {"annotations": "a".repeat(400_000)}, "metadata": {"k": 1}});
    let (r, _) = run("get_task", json!({"task_id": "t1"}), task);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.len() <= shape::MAX_TEXT_BYTES, "{}", text.len());
    let s = ok(&r);
    assert_eq!(s["task_id"], "t1");
    assert_eq!(s["status"], "completed");
    assert_eq!(s["metadata"], json!({"k": 1}));
    assert_eq!(s["params"]["p"].as_str().map(str::len), Some(50_000));
    assert!(s.get("response").is_none());
    assert_eq!(s["truncated"]["dropped"], json!(["response"]));
    assert!(s["truncated"]["reason"]
        .as_str()
        .unwrap()
        .contains("200 KB"));
    // Results under the limit pass through untouched.
    let small = json!({"task_id": "t2", "response": {"a": 1}});
    let (r, _) = run("get_task", json!({"task_id": "t2"}), small.clone());
    assert_eq!(ok(&r), small);
}

#[test]
fn network_failures_say_whether_repeating_is_safe_and_name_the_host() {
    let cfg = config_with(&[("SCALE_API_BASE", "https://api.scale.example/v1")]);
    for e in [
        SendError::Network("internal error; reference = 9x8y7z".into()),
        SendError::Network("Network connection lost.".into()),
        SendError::Timeout(25_000),
    ] {
        let up = FakeUpstream::new();
        let e2 = e.clone();
        up.respond_with(move |_| Err(e2.clone()));
        let t = err(&exec(&cfg, &up, None, "get_task", json!({"task_id": "t1"})));
        assert!(t.contains("api.scale.example"), "{e:?}: {t}");
        assert!(
            t.contains("This was a read, so it is safe to repeat."),
            "{e:?}: {t}"
        );
        assert!(!t.contains("write may still"), "{e:?}: {t}");
        assert!(!t.contains("reference ="), "{e:?}: {t}");
        let up = FakeUpstream::new();
        up.push(Err(e.clone()));
        let t = err(&exec(
            &cfg,
            &up,
            None,
            "cancel_task",
            json!({"task_id": "t1"}),
        ));
        assert!(
            t.contains("A write may still have been applied"),
            "{e:?}: {t}"
        );
        assert!(!t.contains("safe to repeat"), "{e:?}: {t}");
    }
}
