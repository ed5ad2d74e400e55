//! `get_task_attachment` on fakes: the chunks and what is sent for them,
//! and every refusal (docs/annotation-view.md, "The attachment tool").

use super::*;
use crate::auth::{Identity, Keyring, Principal, View};
use crate::config::{Config, Secret};
use crate::io::fakes::services;
use crate::io::InResponse;
use crate::tools::testing::*;
use crate::tools::{call, find};

const IMG: &str = "https://img.example/a/street.png";

/// A PNG of `n` bytes: the signature, then a counting pattern.
fn png(n: usize) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend((0..n.saturating_sub(8)).map(|i| (i % 251) as u8));
    b
}

fn answer(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Result<InResponse, SendError> {
    Ok(InResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body,
    })
}

/// An image host that honours `Range` (206 with `Content-Range`, 416 past the end).
fn ranged(file: Vec<u8>) -> impl FnMut(&OutRequest) -> Result<InResponse, SendError> {
    move |req| {
        let total = file.len() as u64;
        let range = header(req, "range")
            .and_then(|r| r.strip_prefix("bytes="))
            .map(|r| {
                let (a, b) = r.split_once('-').unwrap();
                (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
            });
        match range {
            Some((a, _)) if a >= total => answer(
                416,
                &[("content-range", format!("bytes */{total}"))],
                vec![],
            ),
            Some((a, b)) => {
                let b = b.min(total - 1);
                let part = file[a as usize..=b as usize].to_vec();
                answer(
                    206,
                    &[("content-range", format!("bytes {a}-{b}/{total}"))],
                    part,
                )
            }
            None => answer(200, &[], file.clone()),
        }
    }
}

/// Scale with task t1 in project p whose attachment is `url`, and the image host `host`.
fn stack(
    url: &str,
    mut host: impl FnMut(&OutRequest) -> Result<InResponse, SendError> + 'static,
) -> FakeUpstream {
    let up = FakeUpstream::new();
    let task = json!({"task_id": "t1", "project": "p", "type": "imageannotation", "params": {"attachment": url, "attachment_type": "image"}});
    up.respond_with(move |req| {
        if req.url.starts_with(BASE) {
            return match req.url.strip_prefix(BASE) {
                Some("/task/t1") => Ok(json_response(200, &task)),
                _ => Ok(json_response(
                    404,
                    &json!({"status_code": 404, "error": "Task with that ID not found."}),
                )),
            };
        }
        host(req)
    });
    up
}

fn cx_on(cfg: Config, up: &FakeUpstream) -> Ctx {
    Ctx::full_access(cfg, services(up, None))
}

fn run(cx: &Ctx, args: Value) -> Result<Out, ToolError> {
    block_on(call(
        cx,
        "get_task_attachment",
        args.as_object().unwrap().clone(),
    ))
    .unwrap()
}

/// The text block's record (with `data`) and the structuredContent.
fn chunk(r: Result<Out, ToolError>) -> (Value, Value) {
    match r {
        Ok(Out::Split { text, structured }) => (
            serde_json::from_str(&text).unwrap(),
            serde_json::from_str(structured.get()).unwrap(),
        ),
        Ok(_) => panic!("not a split result"),
        Err(e) => panic!("refused: {}", e.text("get_task_attachment")),
    }
}

fn refusal(r: Result<Out, ToolError>) -> String {
    match r {
        Err(e) => e.text("get_task_attachment"),
        Ok(_) => panic!("not refused"),
    }
}

/// The requests that went to the image host.
fn fetched(up: &FakeUpstream) -> Vec<OutRequest> {
    up.sent()
        .into_iter()
        .filter(|r| !r.url.starts_with(BASE))
        .collect()
}

#[test]
fn an_image_comes_in_ranged_chunks_with_its_bytes_once_and_no_credentials() {
    let file = png(150_000);
    let up = stack(IMG, ranged(file.clone()));
    let cx = cx_on(config(), &up);
    let (text, sc) = chunk(run(&cx, json!({"task_id": "t1"})));
    assert_eq!(
        sc,
        json!({"task_id": "t1", "mime_type": "image/png", "total_bytes": 150_000, "offset": 0, "next_offset": CHUNK})
    );
    let data = crate::codec::base64_decode(text["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, file[..CHUNK as usize]);
    let mut without = text.clone();
    without.as_object_mut().unwrap().remove("data");
    assert_eq!(without, sc, "the text is the record with the data");
    assert!(
        text["data"].as_str().unwrap().len() < 200 * 1024 - 200,
        "under the result cap"
    );
    // The task first, with the Scale key; the image with nothing of ours.
    let sent = up.sent();
    assert_eq!(sent[0].url, format!("{BASE}/task/t1"));
    assert_eq!(header(&sent[0], "authorization"), Some(AUTH));
    let img = fetched(&up);
    assert_eq!(img.len(), 1);
    assert_eq!(img[0].url, IMG);
    assert_eq!(header(&img[0], "range"), Some("bytes=0-110591"));
    let names: Vec<&str> = img[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["accept", "range"]);
    assert!(img[0].no_redirects);

    // The next chunk: the first bytes again (the type is checked on every call), then the rest.
    let (text, sc) = chunk(run(&cx, json!({"task_id": "t1", "offset": CHUNK})));
    assert_eq!(sc["next_offset"], Value::Null);
    assert_eq!(sc["offset"], CHUNK);
    let data = crate::codec::base64_decode(text["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, file[CHUNK as usize..]);
    let ranges: Vec<String> = fetched(&up)[1..]
        .iter()
        .map(|r| header(r, "range").unwrap().to_string())
        .collect();
    assert_eq!(ranges, ["bytes=110592-221183", "bytes=0-15"]);

    // Past the end: an invalid offset, said plainly.
    let t = refusal(run(&cx, json!({"task_id": "t1", "offset": 150_000})));
    assert!(
        t.contains("offset 150000 is past the end of the attachment (150000 bytes)"),
        "{t}"
    );
}

#[test]
fn a_host_that_ignores_range_is_read_whole_and_sliced() {
    let file = png(120_000);
    let bytes = file.clone();
    let up = stack(IMG, move |_| {
        answer(
            200,
            &[("content-type", "application/octet-stream".into())],
            bytes.clone(),
        )
    });
    let cx = cx_on(config(), &up);
    let (_, sc) = chunk(run(&cx, json!({"task_id": "t1"})));
    assert_eq!(sc["next_offset"], CHUNK);
    let (text, sc) = chunk(run(&cx, json!({"task_id": "t1", "offset": CHUNK})));
    assert_eq!(sc["next_offset"], Value::Null);
    assert_eq!(
        crate::codec::base64_decode(text["data"].as_str().unwrap()).unwrap(),
        file[CHUNK as usize..]
    );
}

#[test]
fn jpeg_gif_and_webp_are_known_by_their_first_bytes() {
    for (head, mime) in [
        (&b"\xff\xd8\xff\xe0rest"[..], "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp"),
    ] {
        let file = head.to_vec();
        let up = stack(IMG, ranged(file));
        let (_, sc) = chunk(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
        assert_eq!(sc["mime_type"], mime);
    }
}

#[test]
fn refusals_say_why_and_fetch_nothing_they_need_not() {
    // An imported file: nothing fetched.
    let up = stack("scaledata://0123/abcd", ranged(png(100)));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert!(
        t.starts_with("The attachment is a file imported into Scale (scaledata://0123/abcd)"),
        "{t}"
    );
    assert!(fetched(&up).is_empty());

    // SVG, whatever it is called.
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let up = stack(IMG, ranged(svg));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert_eq!(
        t,
        "The attachment is not a PNG, JPEG, GIF or WebP image (by its first bytes; SVG never is)."
    );

    // Too large: by Content-Range's total, or by a body above the cap.
    let up = stack(IMG, |req| {
        let _ = req;
        answer(
            206,
            &[("content-range", "bytes 0-110591/9437184".into())],
            png(110_592),
        )
    });
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert_eq!(t, "The attachment is larger than 8 MiB (9437184 bytes).");
    let up = stack(IMG, |_| answer(200, &[], png(9 * 1024 * 1024)));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert!(t.starts_with("The attachment is larger than 8 MiB"), "{t}");

    // Slow.
    let up = stack(IMG, |_| Err(SendError::Timeout(8000)));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert_eq!(
        t,
        "The attachment's server did not answer within 8 seconds."
    );

    // A redirect to a disallowed host: the hop is refused before it is asked.
    let up = stack(IMG, |req| {
        if req.url == IMG {
            answer(
                302,
                &[("location", "http://169.254.169.254/latest/meta-data".into())],
                vec![],
            )
        } else {
            panic!("fetched {}", req.url)
        }
    });
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert_eq!(t, "A redirect of the attachment led to an address that is not allowed: it must be an https URL (only https on port 443 to a public host name).");
    assert_eq!(fetched(&up).len(), 1);

    // An address that is not allowed in the first place, and this worker's own.
    for (url, why) in [
        (
            "https://10.0.0.7/a.png",
            "its host must be a DNS name, not an IP address",
        ),
        ("http://img.example/a.png", "it must be an https URL"),
        (
            "https://worker.example/mcp",
            "it must not be this server's own address",
        ),
        (
            "https://img.example:8443/a.png",
            "it must use the default https port",
        ),
    ] {
        let up = stack(url, ranged(png(100)));
        let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
        assert_eq!(t, format!("The attachment's address is not allowed: {why} (only https on port 443 to a public host name)."));
        assert!(fetched(&up).is_empty(), "{url}");
    }

    // The server's own failure.
    let up = stack(IMG, |_| answer(403, &[], b"denied".to_vec()));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert_eq!(t, "The attachment's server answered 403.");
}

#[test]
fn plain_http_to_loopback_only_when_scale_itself_is_local() {
    let url = "http://127.0.0.1:9000/files/street.png";
    let local = config_with(&[("SCALE_API_BASE", "http://127.0.0.1:8080/v1")]);
    let up = FakeUpstream::new();
    let task = json!({"task_id": "t1", "project": "p", "params": {"attachment": url}});
    let file = png(500);
    let mut host = ranged(file);
    up.respond_with(move |req| {
        if req.url.starts_with("http://127.0.0.1:8080/v1") {
            Ok(json_response(200, &task))
        } else {
            host(req)
        }
    });
    let (_, sc) = chunk(run(&cx_on(local, &up), json!({"task_id": "t1"})));
    assert_eq!(sc["total_bytes"], 500);
    let up = stack(url, ranged(png(500)));
    let t = refusal(run(&cx_on(config(), &up), json!({"task_id": "t1"})));
    assert!(t.contains("it must be an https URL"), "{t}");
}

#[test]
fn who_may_read_the_task_may_read_its_attachment_and_no_one_else() {
    // A connection confined to project q: task t1 (in p) reads like a missing one, and nothing is fetched.
    let cfg = config_with(&[("SCALE_PROJECTS", "q")]);
    let up = stack(IMG, ranged(png(100)));
    let p = Principal::full("test");
    let path = crate::auth::mcp_path("/mcp").unwrap().unwrap();
    let known = |t: &str| find(t).is_some();
    let view = View::new(&p, &cfg, &Keyring::default(), &path, &[], &known).unwrap();
    let identity = Identity::operator(p, &cfg, None, "https://worker.example");
    let cx = Ctx::new(
        cfg,
        services(&up, None),
        identity,
        view,
        ("https://worker.example", "/mcp"),
        "r",
    );
    let scoped = refusal(run(&cx, json!({"task_id": "t1"})));
    let missing = refusal(run(&cx, json!({"task_id": "nope"})));
    assert!(scoped.contains("Task with that ID not found."), "{scoped}");
    assert_eq!(
        scoped.replace("t1", "ID"),
        missing.replace("nope", "ID"),
        "the same words as a missing task"
    );
    assert!(fetched(&up).is_empty());

    // Another principal's task: a user signed in with their own Scale key
    // reads their own account, where the operator's task does not exist.
    let cfg = config();
    let up = stack(IMG, ranged(png(100)));
    let user = Principal::full("oauth:tenant-b:g1");
    let view = View::full(&user);
    let identity = Identity::tenant(
        user,
        "tenant-b".into(),
        Secret::new("test_user_b_key"),
        false,
        None,
        "https://worker.example/webhooks/scale/tenant-b".into(),
    );
    up.respond_with(move |req| {
        let own = header(req, "authorization") == Some(AUTH);
        Ok(if own {
            json_response(
                200,
                &json!({"task_id": "t1", "project": "p", "params": {"attachment": IMG}}),
            )
        } else {
            json_response(
                404,
                &json!({"status_code": 404, "error": "Task with that ID not found."}),
            )
        })
    });
    let cx = Ctx::new(
        cfg,
        services(&up, None),
        identity,
        view,
        ("https://worker.example", "/mcp"),
        "r",
    );
    let t = refusal(run(&cx, json!({"task_id": "t1"})));
    assert!(
        t.contains("404") && t.contains("Task with that ID not found."),
        "{t}"
    );
    let get_task = match block_on(call(
        &cx,
        "get_task",
        json!({"task_id": "t1"}).as_object().unwrap().clone(),
    ))
    .unwrap()
    {
        Err(e) => e.text("get_task"),
        Ok(_) => panic!("get_task read another account's task"),
    };
    assert_eq!(t, get_task, "refused in get_task's words");
    assert!(fetched(&up).is_empty());
}
