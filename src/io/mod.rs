//! The seams between the pure core and the platform: an upstream HTTP client,
//! the callback store, the rate limiter, encryption and, for the OAuth server,
//! the consistent store ([`state`]), bundled as [`Services`]. The edge
//! implements the traits with `worker::Fetch`, Workers KV, the Rate Limiting
//! binding, WebCrypto and a Durable Object; `fakes` (tests and the `testing`
//! feature) implements them in memory. Only the traits and what they carry
//! live here: what a request runs with is `context`.

use crate::http::header_in;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A boxed, non-`Send` future: Workers run single-threaded and their JS-backed
/// futures are not `Send`, so the core never asks for it.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A request the core wants sent upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct OutRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// An answer body larger than this is not read: a declared Content-Length
    /// above it is refused before reading, and a streamed body is cut off.
    pub max_response_bytes: usize,
    /// A 3xx comes back as it is instead of being followed (fetches of URLs
    /// a caller chose, such as OAuth client metadata documents).
    pub no_redirects: bool,
}

/// What came back from upstream. Header names are lower-case.
#[derive(Clone, Debug, Default)]
pub struct InResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl InResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// Why an upstream call produced no HTTP answer.
#[derive(Clone, Debug, PartialEq)]
pub enum SendError {
    /// The call was aborted after the given number of milliseconds.
    Timeout(u32),
    /// The connection failed or broke; the text is the platform's description.
    Network(String),
    /// The answer (this status) was larger than `max_response_bytes` and was not read.
    TooLarge(u16),
    /// The platform refused the fetch: the request has used its subrequests.
    SubrequestLimit,
}

impl SendError {
    /// Classifies the message of a fetch the platform failed: its subrequest
    /// limit is not a network failure and must not be retried as one.
    pub fn from_platform(message: String) -> Self {
        if message
            .to_ascii_lowercase()
            .contains("too many subrequests")
        {
            SendError::SubrequestLimit
        } else {
            SendError::Network(message)
        }
    }
}

/// The upstream HTTP client, plus the clock the retry policy needs.
pub trait Upstream {
    /// Sends one request and aborts it after `timeout_ms`.
    fn send<'a>(
        &'a self,
        req: &'a OutRequest,
        timeout_ms: u32,
    ) -> BoxFut<'a, Result<InResponse, SendError>>;
    /// Waits, for backoff between retries.
    fn sleep(&self, ms: u32) -> BoxFut<'_, ()>;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Sends one request and gives the answer's head (`body` empty) with
    /// its body to be read chunk by chunk, so a large answer is never whole
    /// in memory; `timeout_ms` bounds the head. The default reads the body
    /// whole and gives it as one chunk (the fakes).
    fn open(&self, req: OutRequest, timeout_ms: u32) -> BoxFut<'_, Result<Opened<'_>, SendError>> {
        Box::pin(async move {
            let mut r = self.send(&req, timeout_ms).await?;
            let body = std::mem::take(&mut r.body);
            Ok((r, Box::new(Whole(Some(body))) as Box<dyn Chunks>))
        })
    }
}

/// An answer's head, and its body to read as it arrives.
pub type Opened<'a> = (InResponse, Box<dyn Chunks + 'a>);

/// An answer's body as it arrives.
pub trait Chunks {
    /// The next piece of the body; `None` at its end; `Err` with the
    /// platform's message when the connection broke.
    fn next(&mut self) -> BoxFut<'_, Result<Option<Vec<u8>>, String>>;
}

/// A body already read, as one chunk.
struct Whole(Option<Vec<u8>>);

impl Chunks for Whole {
    fn next(&mut self) -> BoxFut<'_, Result<Option<Vec<u8>>, String>> {
        let next = self.0.take().filter(|b| !b.is_empty());
        Box::pin(async move { Ok(next) })
    }
}

/// A key as listed by the store: its name and the metadata stored beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedKey {
    pub name: String,
    pub metadata: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    pub keys: Vec<ListedKey>,
    /// Present when more keys follow.
    pub cursor: Option<String>,
}

/// The callback log's storage (Workers KV at the edge). Errors are the
/// platform's message; the core turns them into 5xx answers.
pub trait CallbackStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl_secs: u64,
        metadata: &'a Value,
    ) -> BoxFut<'a, Result<(), String>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<String>, String>>;
    /// Keys with `prefix`, in lexicographic order, at most `limit`, after `cursor`.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFut<'a, Result<ListPage, String>>;
}

/// The Workers Rate Limiting binding (`RATE_LIMITER`): counts calls per key
/// over the period configured with the binding and says whether one more is
/// allowed. Errors are the platform's message.
pub trait RateLimiter {
    fn allow<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<bool, String>>;
}

/// Encryption from the platform (the OAuth server's sealed records, task
/// handles): AES-256-GCM from WebCrypto at the edge (no Rust cipher in the
/// upload; hashes and MACs are `codec`'s) and its CSPRNG. Errors are the
/// platform's message.
pub trait Crypto {
    /// Fills `buf` from the platform's CSPRNG.
    fn random(&self, buf: &mut [u8]) -> Result<(), String>;
    /// `plain` sealed under `key`, its random nonce in front.
    fn seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        plain: &'a [u8],
    ) -> BoxFut<'a, Result<Vec<u8>, String>>;
    /// What [`Crypto::seal`] sealed, or `None` when `sealed` was made with
    /// another key or was changed.
    fn open<'a>(
        &'a self,
        key: &'a [u8; 32],
        sealed: &'a [u8],
    ) -> BoxFut<'a, Result<Option<Vec<u8>>, String>>;
}

/// What the OAuth server runs on besides [`Services::crypto`]: the
/// consistent store and the isolate's memo (shared by every request the
/// isolate serves).
#[derive(Clone)]
pub struct OAuthPlatform {
    /// Client metadata documents that could not be fetched, kept apart from
    /// `memo` so that a flood of them never pushes out what `memo` holds.
    pub failed_docs: Rc<state::Memo>,
    pub state: Rc<dyn state::StateStore>,
    pub memo: Rc<state::Memo>,
}

/// What dataset-scale jobs run on (docs/jobs.md): one Durable Object per
/// job, called with a job store operation (`tools::bulk`'s `store`) as
/// JSON and answering JSON, and the queue that carries the jobs' work.
pub trait Jobs {
    /// Runs `op` in the object of job `job` in one step.
    fn call<'a>(&'a self, job: &'a str, op: String) -> BoxFut<'a, Result<String, String>>;
    /// Puts `bodies` on the jobs queue (at most 100, as one batch), each
    /// delivered after `delay_s` seconds.
    fn send<'a>(&'a self, bodies: &'a [String], delay_s: u32) -> BoxFut<'a, Result<(), String>>;
}

/// The platform services the edge supplies for one request. Shared (`Rc`)
/// so that work which outlives the request handler's frame, such as a
/// streamed answer, can own them.
#[derive(Clone)]
pub struct Services {
    pub upstream: Rc<dyn Upstream>,
    /// The `CALLBACKS` KV namespace as a whole (the operator's callback log,
    /// and behind prefixes each tenant's); `None` when it is not bound. A
    /// caller reads the part of it that is theirs through their identity.
    pub store: Option<Rc<dyn CallbackStore>>,
    /// `None` when the `RATE_LIMITER` binding is not configured.
    pub limiter: Option<Rc<dyn RateLimiter>>,
    /// `/mcp`'s failed bearer attempts per address; `None` when the
    /// `AUTH_LIMITER` binding is not configured.
    pub auth_limiter: Option<Rc<dyn RateLimiter>>,
    /// `None` when the `OAUTH` Durable Object is not bound (OAuth is off).
    pub oauth: Option<OAuthPlatform>,
    /// The platform's encryption and randomness, always there.
    pub crypto: Rc<dyn Crypto>,
    /// `None` unless both the `JOBS` queue and the `JOBS_STATE` object are
    /// bound (jobs are off).
    pub jobs: Option<Rc<dyn Jobs>>,
}

pub mod state;

#[cfg(any(test, feature = "testing"))]
pub mod fakes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_subrequest_limit_is_not_a_network_error() {
        assert_eq!(
            SendError::from_platform("Too many subrequests by single Worker invocation.".into()),
            SendError::SubrequestLimit
        );
        assert_eq!(
            SendError::from_platform("Network connection lost.".into()),
            SendError::Network("Network connection lost.".into())
        );
    }
}
