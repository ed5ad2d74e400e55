//! The jobs queue's consumer as the core sees it (docs/jobs.md): a batch of
//! messages from the `JOBS` queue or its dead-letter queue, each answered
//! with a [`Verdict`]. Before each step the job's principal is found again
//! (a static token still configured, a grant not revoked, still allowed to
//! create tasks) and a context is made for them on the connection that
//! started the job, with the same narrowing; the steps themselves are
//! `tools::bulk`'s.

use super::settings::load;
use crate::auth::{mcp_path, Identity, Keyring, Principal, PrincipalKind, Scope, Scopes, View};
use crate::config::{Config, RawSettings};
use crate::context::{join_all, Budget, Ctx};
use crate::io::{BoxFut, Jobs, Services};
use crate::json::truncate;
use crate::tools::bulk::consume;
use crate::tools::bulk::job::{call, Msg};
use crate::tools::job_store::{Op, Spec};
use std::rc::Rc;

/// One message of a batch: its body, and whether it came from the
/// dead-letter queue (the queue gave up on it).
pub struct Message {
    pub body: String,
    pub dead: bool,
}

/// What to do with a message once handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done with it (handled, or nothing left to do).
    Ack,
    /// Deliver it again after this many seconds.
    Retry(u32),
}

/// How long a step waits for this worker's settings to match its job's (s).
const SETTINGS_WAIT_S: u32 = 60;

/// How long the steps of one batch may take together (ms): an invocation
/// of the consumer may run for 15 minutes; this leaves most of it unused.
const BATCH_MS: u64 = 5 * 60_000;

/// Handles a batch, its messages side by side (they share the invocation's
/// subrequests); the verdicts are in the messages' order, and the lines for
/// the worker log (notes and audit lines) come with them.
pub fn consume_batch<'a>(
    messages: &'a [Message],
    raw: &'a RawSettings,
    services: Services,
) -> BoxFut<'a, (Vec<Verdict>, Vec<String>)> {
    Box::pin(async move {
        let mut logs = Vec::new();
        let Some(jobs) = services.jobs.clone() else {
            logs.push("jobs: a batch arrived but JOBS or JOBS_STATE is not bound; its messages are dropped".into());
            return (vec![Verdict::Ack; messages.len()], logs);
        };
        let (cfg, keys) = match load(raw) {
            Ok(c) => c,
            Err(errs) => {
                let names: Vec<&str> = errs.iter().map(|e| e.name).collect();
                logs.push(format!(
                    "jobs: the settings are invalid ({}); the batch waits for a fix",
                    names.join(", ")
                ));
                return (vec![Verdict::Retry(60); messages.len()], logs);
            }
        };
        let now = services.upstream.now_ms();
        let budget = Rc::new(Budget::new(now, BATCH_MS, cfg.subrequest_limit));
        // The messages of a batch run side by side: their Scale requests
        // share the invocation's connections (the platform queues what is
        // over its limit) and its subrequests, so a batch takes about the
        // time of its items rather than the sum of its chunks'.
        let steps = messages
            .iter()
            .map(|m| Box::pin(one(m, &cfg, &keys, &services, &*jobs, &budget)) as BoxFut<'_, _>)
            .collect();
        let mut verdicts = Vec::with_capacity(messages.len());
        for (v, lines) in join_all(steps).await {
            verdicts.push(v);
            logs.extend(lines);
        }
        (verdicts, logs)
    })
}

/// One message: its verdict and log lines.
async fn one(
    m: &Message,
    cfg: &Config,
    keys: &Keyring,
    services: &Services,
    jobs: &dyn Jobs,
    budget: &Rc<Budget>,
) -> (Verdict, Vec<String>) {
    let verdict = |wait: Option<u32>| wait.map_or(Verdict::Ack, Verdict::Retry);
    let Some(msg) = Msg::parse(&m.body) else {
        let line = format!(
            "jobs: dropped a message that is not a job's: {}",
            truncate(&m.body, 80)
        );
        return (Verdict::Ack, vec![line]);
    };
    // A chunk's claim is also the look at its job: one call of the object
    // (it writes nothing, so a step that goes no further loses nothing).
    let op = match (m.dead, msg.chunk) {
        (false, Some(chunk)) => Op::Claim { chunk },
        _ => Op::Get,
    };
    let (job, rows) = match call(jobs, &msg.job, &op).await {
        Ok(a) => (a.job, a.rows),
        Err(e) => {
            return (
                Verdict::Retry(10),
                vec![format!("job {}: {}", msg.job, e.message)],
            )
        }
    };
    // Gone (its ttl ran out), or ended: nothing is left to do.
    let Some(job) = job.filter(|j| !j.state.ended()) else {
        return (Verdict::Ack, Vec::new());
    };
    // A job runs under the settings it was started with, or waits: the
    // dead-letter queue only records that the queue gave up.
    if job.spec.settings != cfg.settings_digest && !m.dead {
        let line = format!(
            "job {}: this worker's settings differ from the MCP worker's that started it (deploy both with the same vars and secrets, docs/jobs.md §9); it waits",
            msg.job
        );
        return (Verdict::Retry(SETTINGS_WAIT_S), vec![line]);
    }
    let who = match principal(keys, jobs, &job.spec).await {
        Ok(who) => who,
        Err(e) => {
            let line = format!(
                "job {}: its principal could not be checked: {}",
                msg.job,
                truncate(&e, 200)
            );
            return (Verdict::Retry(30), vec![line]);
        }
    };
    let gone = match &who {
        None if job.spec.kind == "grant" => {
            Some("the sign-in that started it was revoked".to_string())
        }
        None => Some("the token that started it is no longer in MCP_AUTH_TOKEN".to_string()),
        Some(_) => None,
    };
    let (mut cx, refused) = context(cfg, keys, services, &job.spec, who);
    if let Some(why) = gone.or(refused) {
        // A step of someone no longer allowed: the job ends here, logged
        // under the principal it named.
        let wait = consume::fail(&cx, jobs, &msg.job, format!("stopped: {why}")).await;
        return (verdict(wait), cx.take_notes());
    }
    cx.budget = budget.clone();
    let wait = match (m.dead, msg.chunk) {
        (true, _) => consume::dead(&cx, jobs, &msg).await,
        (false, Some(_)) => consume::chunk(&cx, jobs, &job, rows).await,
        (false, None) => consume::read(&cx, jobs, &job).await,
    };
    (verdict(wait), cx.take_notes())
}

/// The principal that started a job, as they are now: a static token as
/// `MCP_AUTH_TOKEN` has it now, a grant with the scopes it started with
/// unless it was revoked since (its object says so; docs/jobs.md §5);
/// `None` when they are gone.
async fn principal(
    keys: &Keyring,
    jobs: &dyn Jobs,
    spec: &Spec,
) -> Result<Option<Principal>, String> {
    if spec.kind == "grant" {
        let Some(id) = spec.label.rsplit(':').next() else {
            return Ok(None);
        };
        let a = call(jobs, &format!("grant:{id}"), &Op::Revoked)
            .await
            .map_err(|e| e.message)?;
        let scopes: Vec<Scope> = spec
            .scopes
            .split(',')
            .filter_map(|s| Scope::parse(s.trim()))
            .collect();
        return Ok((!a.ended).then(|| Principal::grant(spec.label.clone(), Scopes::of(&scopes))));
    }
    Ok(keys
        .tokens()
        .iter()
        .find(|t| t.label == spec.label)
        .map(|t| Principal {
            label: t.label.clone(),
            kind: PrincipalKind::StaticToken,
            scopes: t.scopes,
        }))
}

/// The context of a job's step: `who` (`None`: gone; the context then
/// only names the job's principal in its log lines) on the operator's
/// account, on the connection (path and narrowing headers) that started the
/// job; with why `who` may no longer create its tasks there, if so.
fn context(
    cfg: &Config,
    keys: &Keyring,
    services: &Services,
    spec: &Spec,
    who: Option<Principal>,
) -> (Ctx, Option<String>) {
    let (p, view) = match who {
        Some(p) => {
            let known = |t: &str| crate::tools::find(t).is_some();
            let view = match mcp_path(&spec.path) {
                Some(Ok(path)) => View::new(&p, cfg, keys, &path, &spec.headers, &known),
                _ => Err("its MCP path is no longer served".into()),
            };
            (p, view)
        }
        None => {
            let kind = match spec.kind.as_str() {
                "grant" => PrincipalKind::Grant,
                _ => PrincipalKind::StaticToken,
            };
            let p = Principal {
                label: spec.label.clone(),
                kind,
                scopes: Scopes::of(&[]),
            };
            (p, Err(String::new()))
        }
    };
    let (view, mut refused) = match view {
        Ok(v) => (v, None),
        Err(why) => (View::full(&p), Some(why).filter(|w| !w.is_empty())),
    };
    let identity = Identity::operator(p, cfg, services.store.clone(), &spec.origin);
    let request_id = format!("job-{}", spec.id);
    let url = (&*spec.origin, &*spec.path);
    let mut cx = Ctx::new(
        cfg.clone(),
        services.clone(),
        identity,
        view,
        url,
        &request_id,
    );
    cx.narrowing = spec.headers.clone().into();
    if refused.is_none() {
        refused = crate::tools::may_create_tasks(&cx)
            .err()
            .map(|e| format!("it may no longer create tasks here: {}", e.message));
    }
    (cx, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::{block_on, services, FakeUpstream};
    use crate::tools::bulk::job::chunk_size;
    use crate::tools::job_store::tests::MemJobs;
    use crate::tools::job_store::{Job, Row, Rows, State};
    use serde_json::{json, Map};

    const TOKEN: &str = "a-token-of-at-least-some-length-1";

    fn raw(extra: &[(&str, &str)]) -> RawSettings {
        let mut pairs = vec![
            ("SCALE_API_KEY", "test_key_abc"),
            ("SCALE_API_BASE", "https://api.test/v1"),
            ("MCP_AUTH_TOKEN", TOKEN),
        ];
        pairs.extend_from_slice(extra);
        let mut r = RawSettings::from_pairs(&pairs, false);
        r.digest = r.compute_digest();
        r
    }

    /// A running job of 3 items started by `label` under `settings`.
    fn job(jobs: &MemJobs, label: &str, settings: &str) {
        let mut args = Map::new();
        args.insert("type".into(), json!("imageannotation"));
        let spec = Spec {
            id: "j".into(),
            created: 0,
            ttl: 86_400_000,
            items_url: "https://bucket.example/m.jsonl".into(),
            args,
            label: label.into(),
            kind: "token".into(),
            origin: "https://worker.example".into(),
            path: "/mcp".into(),
            headers: vec![],
            chunk: chunk_size(50),
            settings: settings.into(),
            scopes: String::new(),
        };
        let start = Op::Start {
            spec: Box::new(spec),
        };
        block_on(call(jobs, "j", &start)).unwrap();
        let rows = (1..=3)
            .map(|line| Row {
                line,
                unique_id: format!("k:{line}"),
                body: format!("{{\"attachment\":\"https://img.example/{line}.png\",\"unique_id\":\"k:{line}\"}}"),
                ..Row::default()
            })
            .collect();
        block_on(call(
            jobs,
            "j",
            &Op::Items {
                first: true,
                read: 3,
                rows,
            },
        ))
        .unwrap();
        block_on(call(
            jobs,
            "j",
            &Op::Read {
                total: 3,
                bad: String::new(),
            },
        ))
        .unwrap();
    }

    fn run(
        raw: &RawSettings,
        jobs: &MemJobs,
        up: &FakeUpstream,
        body: &str,
    ) -> (Vec<Verdict>, Vec<String>) {
        let mut sv = services(up, None);
        sv.jobs = Some(Rc::new(jobs.clone()));
        let m = [Message {
            body: body.into(),
            dead: false,
        }];
        block_on(consume_batch(&m, raw, sv))
    }

    #[test]
    fn a_step_under_other_settings_waits_and_touches_nothing() {
        let (jobs, up) = (MemJobs::default(), FakeUpstream::new());
        let theirs = raw(&[("CALLBACK_HOSTS", "cb.example")]);
        job(&jobs, "token-1", &theirs.digest);
        let mine = raw(&[]);
        assert_ne!(mine.digest, theirs.digest);
        let (v, logs) = run(&mine, &jobs, &up, r#"{"job":"j","chunk":0}"#);
        assert_eq!(v, [Verdict::Retry(SETTINGS_WAIT_S)]);
        assert!(logs[0].contains("settings differ"), "{logs:?}");
        assert!(up.sent().is_empty(), "no Scale request");
        let j = block_on(call(&jobs, "j", &Op::Get)).unwrap().job.unwrap();
        assert_eq!((j.state, j.done()), (State::Running, 0));
        // Under the same settings the chunk runs.
        up.push_json(200, json!({"task_id": "t1"}));
        up.push_json(200, json!({"task_id": "t2"}));
        up.push_json(200, json!({"task_id": "t3"}));
        let (v, _) = run(&theirs, &jobs, &up, r#"{"job":"j","chunk":0}"#);
        assert_eq!(v, [Verdict::Ack]);
        assert_eq!(up.sent().len(), 3);
    }

    #[test]
    fn a_job_whose_token_was_removed_stops_with_its_end_logged() {
        let (jobs, up) = (MemJobs::default(), FakeUpstream::new());
        let r = raw(&[]);
        job(&jobs, "token-9", &r.digest);
        let (v, logs) = run(&r, &jobs, &up, r#"{"job":"j","chunk":0}"#);
        assert_eq!(v, [Verdict::Ack]);
        assert!(up.sent().is_empty());
        let j = block_on(call(&jobs, "j", &Op::Get)).unwrap().job.unwrap();
        assert_eq!(j.state, State::Failed);
        assert!(
            j.reason.contains("no longer in MCP_AUTH_TOKEN"),
            "{}",
            j.reason
        );
        let end: serde_json::Value =
            serde_json::from_str(logs.iter().find(|l| l.starts_with('{')).unwrap()).unwrap();
        assert_eq!(
            (
                end["event"].as_str(),
                end["outcome"].as_str(),
                end["principal"].as_str()
            ),
            (Some("job_end"), Some("failed"), Some("token-9"))
        );
    }

    #[test]
    fn a_job_of_a_revoked_sign_in_stops() {
        let (jobs, up) = (MemJobs::default(), FakeUpstream::new());
        let r = raw(&[]);
        job(&jobs, "oauth:token-1:g42", &r.digest);
        {
            let mut objects = jobs.objects.borrow_mut();
            let j = objects.get_mut("j").unwrap();
            let mut h = Job::from_json(&j.header_json()).unwrap();
            h.spec.kind = "grant".into();
            h.spec.scopes = "scale:read, scale:write".into();
            j.set_header(&h.to_json(), u64::MAX).unwrap();
        }
        // Live: the chunk runs as the grant (Scale is down: it comes back).
        for _ in 0..3 {
            up.push_json(503, json!({"error": "down"}));
        }
        let (v, _) = run(&r, &jobs, &up, r#"{"job":"j","chunk":0}"#);
        assert!(matches!(v[..], [Verdict::Retry(_)]), "{v:?}");
        assert_eq!(up.sent().len(), 3);
        block_on(crate::tools::bulk::job::grant_revoked(&jobs, "g42")).unwrap();
        let (v, logs) = run(&r, &jobs, &up, r#"{"job":"j","chunk":0}"#);
        assert_eq!(v, [Verdict::Ack]);
        assert_eq!(up.sent().len(), 3, "nothing more is sent");
        let j = block_on(call(&jobs, "j", &Op::Get)).unwrap().job.unwrap();
        assert_eq!(j.state, State::Failed);
        assert!(j.reason.contains("revoked"), "{}", j.reason);
        assert!(logs.iter().any(|l| l.contains("\"job_end\"")), "{logs:?}");
    }

    #[test]
    fn messages_that_are_no_job_s_are_dropped_with_a_line() {
        let (jobs, up) = (MemJobs::default(), FakeUpstream::new());
        let (v, logs) = run(&raw(&[]), &jobs, &up, "[1,2]");
        assert_eq!(v, [Verdict::Ack]);
        assert!(logs[0].contains("not a job's"));
        // A job that is gone (its ttl ran out): nothing to do.
        let (v, _) = run(&raw(&[]), &jobs, &up, r#"{"job":"nope"}"#);
        assert_eq!(v, [Verdict::Ack]);
    }
}
