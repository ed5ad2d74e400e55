//! Task ids. An id is the whole task: what it follows (a Scale task or a
//! batch), who made it (the principal's label and kind, so for a signed-in
//! user the grant; the account: the operator's or a tenant's) and on which
//! MCP URL path, when, and for how long it lives, sealed with AES-256-GCM
//! under a key derived from the server key for this purpose alone. So no
//! store holds tasks, an id resolves anywhere the moment it is returned,
//! and it can be neither read (it travels in `Mcp-Name` headers and logs)
//! nor forged. The random nonce of each sealing makes every id unique.
//!
//! The sealed payload is small and binary: a format byte, what it follows,
//! when it was made and its ttl (milliseconds), 16 bytes of the SHA-256 of
//! who made it and on which path, and the Scale id. An id is base64url
//! without padding: header-safe ASCII that never looks like the
//! `=?base64?…?=` form of a header value. An id that does not open under a
//! server key, or belongs to another principal, account or path, or has
//! outlived its ttl, is "not found", all alike.

use crate::auth::{derive, server_keys, Account, PrincipalKind};
use crate::codec::{base64_decode, base64url, sha256};
use crate::context::Ctx;
use serde_json::{Map, Value};

/// What the handle key is derived for: nothing else is sealed under it.
const PURPOSE: &str = "scale-mcp task handle";
/// The payload's layout; another one is refused as not found.
const FORMAT: u8 = 1;
/// Format, kind, created, ttl, and who made it: the bytes before the Scale id.
const HEAD: usize = 1 + 1 + 8 + 8 + 16;
/// The longest id opened: a batch name of the longest path segment, sealed.
const MAX_ID: usize = 2_048;

/// What a task follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Follows {
    Task,
    Batch,
    /// A job of `create_tasks` with `items_url` (its id is the job's).
    Job,
}

impl Follows {
    /// The wait tool whose work this is, and its argument that names it.
    pub(crate) fn tool(self) -> (&'static str, &'static str) {
        match self {
            Follows::Task => ("wait_for_task", "task_id"),
            Follows::Batch => ("wait_for_batch", "name"),
            Follows::Job => ("create_tasks", "items_url"),
        }
    }
    pub(crate) fn of_tool(tool: &str) -> Option<Follows> {
        match tool {
            "wait_for_task" => Some(Follows::Task),
            "wait_for_batch" => Some(Follows::Batch),
            "create_tasks" => Some(Follows::Job),
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

/// Who may open a handle: the caller (principal label and kind, so a
/// grant's id; the account) and the URL path of this request, as 16 bytes
/// of a SHA-256 over them, each preceded by its length.
fn binding(cx: &Ctx) -> [u8; 16] {
    let p = cx.identity().principal();
    let kind = match p.kind {
        PrincipalKind::StaticToken => "token",
        PrincipalKind::Grant => "grant",
    };
    let account = match cx.identity().account() {
        Account::Operator => "",
        Account::Tenant(t) => t.as_str(),
    };
    let mut all = Vec::new();
    for part in [p.label.as_str(), kind, account, &cx.path] {
        all.extend_from_slice(&(part.len() as u32).to_le_bytes());
        all.extend_from_slice(part.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&sha256(&all)[..16]);
    out
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

/// The id of `h`, made by the caller of `cx`, under the newest of `keys`.
pub(crate) async fn seal(cx: &Ctx, keys: &[Vec<u8>], h: &Handle) -> Result<String, Unavailable> {
    let mut plain = Vec::with_capacity(HEAD + h.id.len());
    plain.push(FORMAT);
    plain.push(match h.follows {
        Follows::Task => 0,
        Follows::Batch => 1,
        Follows::Job => 2,
    });
    plain.extend_from_slice(&h.created.to_le_bytes());
    plain.extend_from_slice(&h.ttl.to_le_bytes());
    plain.extend_from_slice(&binding(cx));
    plain.extend_from_slice(h.id.as_bytes());
    let key = derive(&keys[0], PURPOSE);
    let sealed = cx
        .services
        .crypto
        .seal(&key, &plain)
        .await
        .map_err(Unavailable::Failed)?;
    Ok(base64url(&sealed))
}

/// The task `id` names, when it is one this caller made on this path under
/// one of `keys` and it is still alive; `Ok(None)` for every other id.
pub(crate) async fn open(
    cx: &Ctx,
    keys: &[Vec<u8>],
    id: &str,
) -> Result<Option<Handle>, Unavailable> {
    let shaped = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(sealed) = base64_decode(id).filter(|_| shaped) else {
        return Ok(None);
    };
    let mut plain = None;
    // The newest key first; older ones only while OAUTH_SECRET rotates.
    for k in keys {
        let key = derive(k, PURPOSE);
        plain = recall(id, &key);
        if plain.is_none() {
            plain = cx
                .services
                .crypto
                .open(&key, &sealed)
                .await
                .map_err(Unavailable::Failed)?;
            if let Some(p) = &plain {
                remember(id, key, p);
            }
        }
        if plain.is_some() {
            break;
        }
    }
    Ok(plain
        .and_then(|p| parse(&p, &binding(cx)))
        .filter(|h| !h.expired(cx.upstream().now_ms())))
}

/// Handles opened in this isolate lately: a client polls one handle again
/// and again, and skipping the platform's decryption took a pending poll
/// from 8.7% above get_task's CPU to 2.3% (`npm run bench`, its tasks/get
/// diagnostic; 0.54 KiB of the compressed upload). An entry is the id as
/// sent and the key it opened under, so a key no longer in use opens
/// nothing; who may use it and whether it expired are checked on every
/// poll as for a fresh opening.
const OPENED_KEPT: usize = 64;

/// An opened handle: its id as sent, the key it opened under, its payload.
type Opened = (String, [u8; 32], Vec<u8>);

thread_local! {
    static OPENED: std::cell::RefCell<Vec<Opened>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn recall(id: &str, key: &[u8; 32]) -> Option<Vec<u8>> {
    OPENED.with(|o| {
        o.borrow()
            .iter()
            .find(|(i, k, _)| i == id && k == key)
            .map(|(_, _, p)| p.clone())
    })
}

fn remember(id: &str, key: [u8; 32], plain: &[u8]) {
    OPENED.with(|o| {
        let mut o = o.borrow_mut();
        if o.len() == OPENED_KEPT {
            o.remove(0);
        }
        o.push((id.to_string(), key, plain.to_vec()));
    })
}

/// A payload made by [`seal`] for the caller whose binding is `who`.
fn parse(p: &[u8], who: &[u8; 16]) -> Option<Handle> {
    if p.len() <= HEAD || p[0] != FORMAT || p[18..HEAD] != who[..] {
        return None;
    }
    let follows = match p[1] {
        0 => Follows::Task,
        1 => Follows::Batch,
        2 => Follows::Job,
        _ => return None,
    };
    let num = |at: usize| u64::from_le_bytes(p[at..at + 8].try_into().expect("8 bytes"));
    Some(Handle {
        follows,
        id: String::from_utf8(p[HEAD..].to_vec()).ok()?,
        created: num(2),
        ttl: num(10),
    })
}

/// The server keys, newest first.
pub(crate) async fn keys(cx: &Ctx) -> Result<Vec<Vec<u8>>, Unavailable> {
    match server_keys(&cx.config, &cx.services).await {
        Ok(Some(k)) if !k.is_empty() => Ok(k),
        Ok(_) => Err(Unavailable::NoKey),
        Err(e) => Err(Unavailable::Failed(e)),
    }
}

#[cfg(test)]
mod opened_tests {
    use super::*;

    #[test]
    fn an_opened_handle_is_recalled_only_by_its_id_and_key_and_the_oldest_goes_first() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        remember("id-a", k1, b"plain a");
        assert_eq!(recall("id-a", &k1).as_deref(), Some(&b"plain a"[..]));
        assert_eq!(recall("id-a", &k2), None, "another key opens nothing");
        assert_eq!(recall("id-b", &k1), None, "another id opens nothing");
        for i in 0..OPENED_KEPT {
            remember(&format!("filler-{i}"), k1, b"x");
        }
        assert_eq!(recall("id-a", &k1), None, "the oldest entry was dropped");
        assert!(recall(&format!("filler-{}", OPENED_KEPT - 1), &k1).is_some());
        OPENED.with(|o| assert_eq!(o.borrow().len(), OPENED_KEPT));
    }
}
