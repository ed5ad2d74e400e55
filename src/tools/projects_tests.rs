//! Native tests of the project tools: their Scale requests, answer shapes,
//! and what a failed ontology step says was applied.

use crate::tools::testing::*;

#[test]
fn list_projects_requests_and_shape() {
    let projects = json!([{"name": "a", "type": "imageannotation"}, {"name": "b"}]);
    let (r, reqs) = run("list_projects", json!({}), projects.clone());
    assert_eq!(ok(&r), json!({"projects": projects}));
    assert_req(&reqs[0], "GET", "/projects", None);
    let (_, reqs) = run("list_projects", json!({"archived": true}), json!([]));
    assert_req(&reqs[0], "GET", "/projects?archived=true", None);
    let (r, reqs) = run("list_projects", json!({"archived": false}), json!([]));
    assert_req(&reqs[0], "GET", "/projects?archived=false", None);
    assert_eq!(ok(&r), json!({"projects": []}));
    // A paged shape is unwrapped.
    let (r, _) = run("list_projects", json!({}), json!({"docs": [{"name": "z"}]}));
    assert_eq!(ok(&r), json!({"projects": [{"name": "z"}]}));
}

#[test]
fn get_project_request() {
    let p = json!({"name": "My Project", "type": "categorization", "param_history": []});
    let (r, reqs) = run("get_project", json!({"name": "My Project"}), p.clone());
    assert_eq!(ok(&r), p);
    assert_req(&reqs[0], "GET", "/projects/My%20Project", None);
}

#[test]
fn create_project_request() {
    let (r, reqs) = run(
        "create_project",
        json!({
            "type": "imageannotation",
            "name": "proj",
            "params": {"instruction": "Boxes", "geometries": {"box": {}}},
            "studio": true,
            "rapid": false,
            "pipeline": "consensus_task",
            "consensus_attempts": 3,
        }),
        json!({"name": "proj"}),
    );
    assert_eq!(ok(&r), json!({"name": "proj"}));
    assert_req(
        &reqs[0],
        "POST",
        "/projects",
        Some(json!({
            "type": "imageannotation",
            "name": "proj",
            "params": {"instruction": "Boxes", "geometries": {"box": {}}},
            "studio": true,
            "rapid": false,
            "pipeline": "consensus_task",
            "consensus_attempts": 3,
        })),
    );
    let (_, reqs) = run(
        "create_project",
        json!({"type": "chat", "name": "c"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects",
        Some(json!({"type": "chat", "name": "c"})),
    );
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(409, &json!({"error": "Project name taken"}))));
    let t = err(&run_on(
        &up,
        "create_project",
        json!({"type": "chat", "name": "c"}),
    ));
    assert!(
        t.contains("409 Conflict for POST /projects: Project name taken"),
        "{t}"
    );
    assert!(t.contains("get_project shows it"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn update_project_set_params_body() {
    let (r, reqs) = run(
        "update_project",
        json!({"name": "p 1", "instruction": "New", "params": {"geometries": {"box": {}}}, "patch": true}),
        json!({"name": "p 1", "param_history": [{"version": 2}]}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p 1", "param_history": [{"version": 2}]})
    );
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p%201/setParams",
        Some(json!({"geometries": {"box": {}}, "instruction": "New", "patch": true})),
    );
    let (_, reqs) = run(
        "update_project",
        json!({"name": "p", "instruction": "Only this"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "Only this"})),
    );
    let (_, reqs) = run(
        "update_project",
        json!({"name": "p", "params": {"instruction": "via params"}, "patch": false}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "via params", "patch": false})),
    );
}

#[test]
fn update_project_ontology_and_both_steps() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/projects/p/setParams" => (200, json!({"name": "p", "type": "categorization"})),
        "/projects/p/setOntology" => (200, json!({"ontology": ["a"]})),
        _ => panic!("{path}"),
    });
    let r = run_on(
        &up,
        "update_project",
        json!({"name": "p", "instruction": "I", "ontology": ["cat", {"choice": "dog", "subchoices": ["big"]}], "ontology_name": "v2"}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p", "type": "categorization", "ontology_update": {"ontology": ["a"]}})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "I"})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/projects/p/setOntology",
        Some(json!({"ontology": ["cat", {"choice": "dog", "subchoices": ["big"]}], "name": "v2"})),
    );

    // Ontology alone, with a plain OK answer.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(
        &up,
        "update_project",
        json!({"name": "p", "ontology": ["x"]}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p", "ontology_update": {"ok": true}})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setOntology",
        Some(json!({"ontology": ["x"]})),
    );
}

#[test]
fn update_project_ontology_failure_after_set_params() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/projects/p/setParams" => (200, json!({"name": "p"})),
        _ => (404, json!({"status_code": 404, "error": "Not found"})),
    });
    let t = err(&run_on(
        &up,
        "update_project",
        json!({"name": "p", "params": {"x": 1}, "ontology": ["a"]}),
    ));
    assert!(t.starts_with("Step `setOntology` failed. Scale returned 404 Not Found for POST /projects/p/setOntology: Not found"), "{t}");
    assert!(t.contains("edit the taxonomy in Scale's dashboard"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: setParams."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);

    // setParams failing stops before setOntology; it is not retried.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(500, &json!({"error": "oops"}))));
    let t = err(&run_on(
        &up,
        "update_project",
        json!({"name": "p", "params": {"x": 1}, "ontology": ["a"]}),
    ));
    assert!(
        t.starts_with("Step `setParams` failed. Scale returned 500"),
        "{t}"
    );
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}
