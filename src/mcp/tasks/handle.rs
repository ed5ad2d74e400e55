//! Task ids. An id is the whole task: what it follows (a Scale task or a
//! batch), who made it (the principal's label and kind, so for a signed-in
//! user the grant; the account: the operator's or a tenant's) and on which
//! MCP URL path, when, and for how long it lives, sealed with AES-256-GCM
//! under a key derived from the server key for this purpose alone. So no
//! store holds tasks, an id resolves anywhere the moment it is returned,
//! and it can be neither read (it travels in `Mcp-Name` headers and logs)
//! nor forged. The random nonce of each sealing makes every id unique.
//!
//! An id is base64url without padding: header-safe ASCII that never looks
//! like the `=?base64?…?=` form of a header value. An id that does not
//! open under a server key, or belongs to another principal, account or
//! path, or has outlived its ttl, is "not found", all alike.

use crate::auth::{derive, server_keys, Account, PrincipalKind};
use crate::codec::{base64_decode, base64url};
use crate::context::Ctx;
use serde_json::{json, Map, Value};

/// What the handle key is derived for: nothing else is sealed under it.
const PURPOSE: &str = "scale-mcp task handle";
/// The payload's layout; a later one would be refused as not found.
const FORMAT: u64 = 1;
/// The longest id opened: a batch name of the longest path segment, sealed.
const MAX_ID: usize = 2_048;

/// What a task follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Follows {
    Task,
    Batch,
}

impl Follows {
    /// The wait tool whose work this is, and its argument that names it.
    pub(crate) fn tool(self) -> (&'static str, &'static str) {
        match self {
            Follows::Task => ("wait_for_task", "task_id"),
            Follows::Batch => ("wait_for_batch", "name"),
        }
    }
    pub(crate) fn of_tool(tool: &str) -> Option<Follows> {
        match tool {
            "wait_for_task" => Some(Follows::Task),
            "wait_for_batch" => Some(Follows::Batch),
            _ => None,
        }
    }
}

/// An opened (or to be sealed) task: its work, when it was made and how
/// long it lives (ms). Who made it is checked on opening, not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Handle {
    pub follows: Follows,
    /// The Scale task's id or the batch's name.
    pub id: String,
    pub created: u64,
    pub ttl: u64,
}

impl Handle {
    /// The wait tool's name and arguments for a look at this task's work.
    pub(crate) fn call(&self) -> (&'static str, Map<String, Value>) {
        let (tool, arg) = self.follows.tool();
        let mut args = Map::new();
        args.insert(arg.into(), Value::String(self.id.clone()));
        (tool, args)
    }
    /// Whether the task has outlived its ttl at `now`.
    pub(crate) fn expired(&self, now: u64) -> bool {
        now >= self.created.saturating_add(self.ttl)
    }
}

/// Who may open a handle: the caller and the URL path of this request.
fn binding(cx: &Ctx) -> [Value; 4] {
    let p = cx.identity().principal();
    let kind = match p.kind {
        PrincipalKind::StaticToken => "token",
        PrincipalKind::Grant => "grant",
    };
    let account = match cx.identity().account() {
        Account::Operator => "",
        Account::Tenant(t) => t.as_str(),
    };
    [
        p.label.as_str().into(),
        kind.into(),
        account.into(),
        (&*cx.path).into(),
    ]
}

/// Why an id could not be made or read (never why it was refused: that is
/// "not found", the same for every reason).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Neither `OAUTH_SECRET` nor the OAuth store: tasks are off.
    NoKey,
    /// The store or the platform's crypto failed.
    Failed(String),
}

/// The id of `h`, made by the caller of `cx`.
pub(crate) async fn seal(cx: &Ctx, h: &Handle) -> Result<String, Unavailable> {
    let keys = keys(cx).await?;
    let [label, kind, account, path] = binding(cx);
    let follows = match h.follows {
        Follows::Task => "task",
        Follows::Batch => "batch",
    };
    let plain = json!([FORMAT, follows, h.id, label, kind, account, path, h.created, h.ttl]);
    let key = derive(&keys[0], PURPOSE);
    let sealed = cx
        .services
        .crypto
        .seal(&key, plain.to_string().as_bytes())
        .await
        .map_err(Unavailable::Failed)?;
    Ok(base64url(&sealed))
}

/// The task `id` names, when it is one this caller made on this path and
/// it is still alive; `Ok(None)` for every other id.
pub(crate) async fn open(cx: &Ctx, id: &str) -> Result<Option<Handle>, Unavailable> {
    let shaped = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(sealed) = base64_decode(id).filter(|_| shaped) else {
        return Ok(None);
    };
    let keys = keys(cx).await?;
    let mut plain = None;
    // The newest key first; older ones only while OAUTH_SECRET rotates.
    for k in &keys {
        let key = derive(k, PURPOSE);
        plain = cx
            .services
            .crypto
            .open(&key, &sealed)
            .await
            .map_err(Unavailable::Failed)?;
        if plain.is_some() {
            break;
        }
    }
    let Some(plain) = plain else {
        return Ok(None);
    };
    let Ok(Value::Array(p)) = serde_json::from_slice::<Value>(&plain) else {
        return Ok(None);
    };
    let follows = match (
        p.first().and_then(Value::as_u64),
        p.get(1).and_then(Value::as_str),
    ) {
        (Some(FORMAT), Some("task")) => Follows::Task,
        (Some(FORMAT), Some("batch")) => Follows::Batch,
        _ => return Ok(None),
    };
    if p.len() != 9 || p[3..7] != binding(cx) {
        return Ok(None);
    }
    let (Some(scale_id), Some(created), Some(ttl)) = (p[2].as_str(), p[7].as_u64(), p[8].as_u64())
    else {
        return Ok(None);
    };
    let h = Handle {
        follows,
        id: scale_id.to_string(),
        created,
        ttl,
    };
    Ok((!h.expired(cx.upstream().now_ms())).then_some(h))
}

async fn keys(cx: &Ctx) -> Result<Vec<Vec<u8>>, Unavailable> {
    match server_keys(&cx.config, &cx.services).await {
        Ok(Some(k)) if !k.is_empty() => Ok(k),
        Ok(_) => Err(Unavailable::NoKey),
        Err(e) => Err(Unavailable::Failed(e)),
    }
}
