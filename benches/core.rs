//! Native timing of the core's hot paths, for profiling what the workerd
//! benchmark (`npm run bench`) measures end to end: `cargo bench --bench core`,
//! or under `valgrind --tool=callgrind` for instruction counts.
//! Optional: `CORE_BENCH_TASKS=path/to/tasks.json` (a `/tasks` answer) replaces
//! the generated 100-task page.

#[cfg(not(feature = "testing"))]
compile_error!("the in-memory fakes need `--features testing` (npm test passes it)");

use scale_mcp_worker::app::handle;
use scale_mcp_worker::config::RawSettings;
use scale_mcp_worker::http::Request as Incoming;
use scale_mcp_worker::io::fakes::{block_on, services, text_response, FakeUpstream, MemoryStore};
use serde_json::json;
use std::time::Instant;

fn page() -> String {
    if let Ok(p) = std::env::var("CORE_BENCH_TASKS") {
        return std::fs::read_to_string(p).expect("CORE_BENCH_TASKS file");
    }
    let docs: Vec<_> = (0..100)
        .map(|i| {
            json!({
                "task_id": format!("task{i:020}"), "type": "imageannotation", "status": "completed",
                "project": "bench", "batch": "bench_batch", "created_at": "2026-11-01T00:00:00.000Z",
                "metadata": {"frame": i, "camera": "front_left", "lon": -122.33460583334323, "lat": 47.6062095},
                "params": {"attachment": format!("https://img.test/{i}.jpg"), "geometries": {"box": {"objects_to_annotate": ["car", "pedestrian", "cyclist"]}}},
                "response": {"annotations": (0..12).map(|j| json!({"label": "car", "left": j * 10, "top": j * 7, "width": 40.5, "height": 30.25, "uuid": format!("{i}-{j}-0000-1111-2222")})).collect::<Vec<_>>()},
            })
        })
        .collect();
    json!({"docs": docs, "total": 100, "limit": 100, "offset": 0, "has_more": false}).to_string()
}

fn time(name: &str, iters: u32, mut f: impl FnMut()) {
    // CORE_BENCH_ONLY=<part of a name> runs just the matching timings (e.g. under callgrind).
    if std::env::var("CORE_BENCH_ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    f();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    println!(
        "{name:<44} {:>9.1} µs/op",
        t.elapsed().as_secs_f64() * 1e6 / iters as f64
    );
}

fn main() {
    let page = page();
    println!("/tasks answer: {} bytes", page.len());
    let raw = RawSettings::from_pairs(
        &[
            ("MCP_AUTH_TOKEN", "bench-token-0123456789"),
            ("SCALE_API_KEY", "test_bench"),
            ("SCALE_API_BASE", "https://scale.test/v1"),
        ],
        true,
    );
    let store = MemoryStore::new();
    let request = |body: &str| Incoming {
        method: "POST".into(),
        path: "/mcp".into(),
        query: String::new(),
        self_origin: "https://w.example".into(),
        headers: vec![
            (
                "authorization".into(),
                "Bearer bench-token-0123456789".into(),
            ),
            ("content-type".into(), "application/json".into()),
            ("mcp-protocol-version".into(), "2025-11-25".into()),
        ],
        body: body.as_bytes().to_vec().into(),
    };
    let run = |req: &Incoming, answer: &str| {
        let up = FakeUpstream::new();
        up.push(Ok(text_response(200, "application/json", answer)));
        let out = block_on(handle(req, &raw, services(&up, Some(&store))));
        assert_eq!(out.status, 200);
        std::hint::black_box(out.body.len());
    };
    time("task_list_text (100 tasks, trimmed)", 200, || {
        std::hint::black_box(
            scale_mcp_worker::tools::tasks::task_list_text(&page).map(|t| t.get().len()),
        );
    });
    let list = request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":100}}}"#,
    );
    time("POST /mcp tools/call list_tasks (100)", 200, || {
        run(&list, &page)
    });
    let task = page
        .split("},{\"batch\"")
        .next()
        .unwrap_or("{}")
        .trim_start_matches("{\"docs\":[")
        .to_string()
        + "}";
    let get = request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"t1"}}}"#,
    );
    time("POST /mcp tools/call get_task", 5000, || run(&get, &task));
    // A 50 KB completed-task callback (CORE_BENCH_WEBHOOK=path replaces the generated one).
    let callback = std::env::var("CORE_BENCH_WEBHOOK")
        .map(|p| std::fs::read_to_string(p).expect("CORE_BENCH_WEBHOOK file"))
        .unwrap_or_else(|_| {
            json!({"task_id": "t1", "status": "completed", "response": {"annotations": (0..400).map(|j| json!({"label": "car", "left": j, "top": j * 2, "width": 40.5, "height": 30.25, "uuid": format!("{j}-0000-1111-2222")})).collect::<Vec<_>>()}, "task": {"task_id": "t1", "batch": "b1", "status": "completed"}}).to_string()
        });
    let cb_raw =
        RawSettings::from_pairs(&[("SCALE_CALLBACK_AUTH_KEY", "bench-callback-key")], true);
    let delivery = Incoming {
        method: "POST".into(),
        path: "/webhooks/scale".into(),
        query: String::new(),
        self_origin: "https://w.example".into(),
        headers: vec![
            ("scale-callback-auth".into(), "bench-callback-key".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: callback.into_bytes().into(),
    };
    time("POST /webhooks/scale (50 KB, stored)", 1000, || {
        // A fresh store each time, so the delivery is stored, not a duplicate.
        let store = MemoryStore::new();
        let up = FakeUpstream::new();
        let out = block_on(handle(&delivery, &cb_raw, services(&up, Some(&store))));
        assert_eq!(out.status, 200, "{}", String::from_utf8_lossy(&out.body));
    });
    let tools = request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    time("POST /mcp tools/list", 5000, || run(&tools, "{}"));
    // Token comparison must not reveal where a guess goes wrong: a 4 KiB
    // token that differs in its first byte takes as long to refuse as one
    // that differs in its last (an early-exit compare would be ~1000x apart).
    let secret = vec![b'a'; 4096];
    let mut first = secret.clone();
    first[0] = b'b';
    let mut last = secret.clone();
    last[4095] = b'b';
    for (name, probe) in [
        ("ct_eq 4 KiB, differs at byte 0", &first),
        ("ct_eq 4 KiB, differs at byte 4095", &last),
    ] {
        time(name, 20_000, || {
            std::hint::black_box(scale_mcp_worker::auth::ct_eq(
                std::hint::black_box(probe),
                &secret,
            ));
        });
    }
}
