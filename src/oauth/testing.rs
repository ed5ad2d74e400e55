//! The OAuth tests' world, shared with the router's tests (`app`): settings
//! with a static token, a Scale key and `OAUTH_BYOK`, the in-memory platform
//! (a scripted upstream that serves a client metadata document and answers
//! Scale for the users' keys, the OAuth store), and whole sign-ins through
//! [`super::serve`]: registration, the sign-in page, codes and tokens.

use super::params::Params;
use super::*;
use crate::codec::percent_encode;
use crate::config::RawSettings;
use crate::http::Body;
use crate::io::fakes::{
    block_on, json_response, services_with_oauth, FakeOAuth, FakeUpstream, Reply,
};
use crate::io::{OutRequest, SendError, Upstream};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

pub(crate) const ISS: &str = "https://w.example.com";
pub(crate) const OP_TOKEN: &str = "operator-static-token-0123456789";
pub(crate) const KEY_A: &str = "test_user_a_key_111111";
pub(crate) const KEY_B: &str = "test_user_b_key_222222";
pub(crate) const LIVE: &str = "live_user_c_key_333333";
pub(super) const CIMD: &str = "https://app.example.com/oauth/client.json";
pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(super) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(super) const REDIRECT: &str = "https://app.example.com/callback";

/// What the fake upstream answers: the client metadata document, Scale's
/// `GET /tasks` for the users' keys, or a scripted document answer.
fn upstream(doc: Rc<RefCell<Option<Reply>>>) -> impl FnMut(&OutRequest) -> Reply {
    move |req| {
        if req.url == CIMD {
            if let Some(r) = doc.borrow_mut().take() {
                return r;
            }
            return Ok(json_response(
                200,
                &json!({"client_id": CIMD, "client_name": "Example App", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": ["private_key_jwt", "none"]}),
            ));
        }
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        for key in [KEY_A, KEY_B, LIVE, "test_operator_key"] {
            if auth
                == Some(&format!(
                    "Basic {}",
                    crate::codec::base64(format!("{key}:").as_bytes())
                ))
            {
                return Ok(json_response(200, &json!({"docs": [], "key": key})));
            }
        }
        if req.url.starts_with("https://api.scale.com/") {
            return Ok(json_response(401, &json!({"error": "Unauthorized"})));
        }
        Err(SendError::Network("unknown host".into()))
    }
}

pub(crate) struct World {
    pub up: FakeUpstream,
    pub oauth: FakeOAuth,
    pub(super) settings: Vec<(&'static str, String)>,
    /// The next answer for the metadata document, when a test scripts one.
    pub(super) doc: Rc<RefCell<Option<Reply>>>,
}

pub(super) struct Out {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) text: String,
    pub(super) logs: Vec<String>,
}

impl Out {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        crate::http::header_in(&self.headers, name)
    }
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_default()
    }
    pub(super) fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }
    pub(super) fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }
}

pub(super) fn param(url: &str, name: &str) -> Option<String> {
    Params::parse(url.split_once('?').map_or("", |x| x.1))
        .unwrap()
        .get(name)
        .map(str::to_string)
}

pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A rendered page's hidden fields and the cookie it set.
pub(super) struct Page {
    pub(super) fields: Vec<(String, String)>,
    pub(super) cookie: String,
}

pub(super) fn page_of(r: &Out) -> Page {
    assert_eq!(r.status, 200, "{}", r.text);
    let mut fields = Vec::new();
    for part in r.text.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once("\" value=\"").unwrap();
        fields.push((unescape(name), unescape(rest.split('"').next().unwrap())));
    }
    let cookie = r
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_default();
    Page { fields, cookie }
}

pub(super) fn authorize_url(client_id: &str, changes: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ];
    for (k, v) in changes {
        pairs.retain(|(k2, _)| k2 != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    format!("/authorize?{}", form(&pairs))
}

pub(crate) const OWN_A: [(&str, &str); 4] = [
    ("method", "own_key"),
    ("scale_key", KEY_A),
    ("grant_scope", "scale:read"),
    ("grant_scope", "scale:write"),
];
pub(crate) type Client = (String, Option<String>);

impl World {
    pub(crate) fn new() -> World {
        World::with(&[])
    }
    pub(super) fn with(extra: &[(&'static str, &str)]) -> World {
        let up = FakeUpstream::new();
        let doc = Rc::new(RefCell::new(None));
        up.respond_with(upstream(doc.clone()));
        let mut settings = vec![
            ("MCP_AUTH_TOKEN", OP_TOKEN.to_string()),
            ("SCALE_API_KEY", "test_operator_key".to_string()),
            ("OAUTH_BYOK", "true".to_string()),
            (
                "OAUTH_SECRET",
                "first-secret-0123456789abcdef0123456789".to_string(),
            ),
        ];
        for (k, v) in extra {
            settings.retain(|(k2, _)| k2 != k);
            settings.push((k, v.to_string()));
        }
        World {
            oauth: FakeOAuth::new(&up),
            up,
            settings,
            doc,
        }
    }
    /// The static tokens of the settings.
    pub(super) fn keyring(&self) -> Keyring {
        Keyring::from_raw(&self.raw()).unwrap()
    }
    pub(crate) fn raw(&self) -> RawSettings {
        let pairs: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        RawSettings::from_pairs(&pairs, true)
    }
    pub(crate) fn set(&mut self, name: &'static str, value: &str) {
        self.settings.retain(|(k, _)| *k != name);
        self.settings.push((name, value.to_string()));
    }
    pub(crate) fn advance(&self, secs: u64) {
        self.up.advance(secs * 1000);
    }
    pub(super) fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Out {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let req = Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            self_origin: ISS.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Body::from(body.as_bytes().to_vec()),
        };
        let cfg = Config::for_mcp(&self.raw()).unwrap();
        let services = services_with_oauth(&self.up, None, &self.oauth);
        let r = block_on(serve(&req, &cfg, &self.keyring(), &services)).expect("an OAuth path");
        Out {
            status: r.status,
            headers: r.headers,
            text: String::from_utf8_lossy(&r.body).into_owned(),
            logs: r.logs,
        }
    }
    pub(super) fn post(&self, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Out {
        let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        self.send("POST", path, &h, &form(pairs))
    }
    /// What `token` means at `path`, as `/mcp` sees it, with `memo` as the isolate's.
    pub(super) fn auth_in(&self, memo: &FakeOAuth, token: &str, path: &str) -> Auth {
        let cfg = Config::for_mcp(&self.raw()).unwrap();
        let services = services_with_oauth(&self.up, None, memo);
        let req = Request {
            method: "POST".into(),
            path: path.into(),
            self_origin: ISS.into(),
            ..Default::default()
        };
        block_on(authenticate(
            &cfg,
            &self.keyring(),
            &services,
            &req,
            token,
            &format!("{ISS}{path}"),
        ))
    }
    pub(super) fn auth(&self, token: &str, path: &str) -> Auth {
        self.auth_in(&self.oauth, token, path)
    }
    pub(crate) fn register(&self, method: &str) -> Client {
        let body = json!({"client_name": "Claude", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": method}).to_string();
        let r = self.send(
            "POST",
            "/register",
            &[("content-type", "application/json")],
            &body,
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let v = r.json();
        (
            v["client_id"].as_str().unwrap_or("").to_string(),
            v["client_secret"].as_str().map(str::to_string),
        )
    }
    pub(super) fn open_page(&self, client_id: &str, changes: &[(&str, &str)]) -> Page {
        page_of(&self.send("GET", &authorize_url(client_id, changes), &[], ""))
    }
    /// Submits the sign-in form with `choices` in place of its fields of the same names.
    pub(super) fn submit(&self, page: &Page, choices: &[(&str, &str)]) -> Out {
        let mut pairs: Vec<(&str, &str)> = page
            .fields
            .iter()
            .filter(|(k, _)| !choices.iter().any(|(c, _)| c == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.extend_from_slice(choices);
        self.post(
            "/authorize",
            &pairs,
            &[
                ("cookie", &page.cookie),
                ("origin", ISS),
                ("sec-fetch-site", "same-origin"),
            ],
        )
    }
    /// Signs in through the page and returns the code.
    pub(super) fn code(&self, client_id: &str, choices: &[(&str, &str)]) -> String {
        let r = self.submit(&self.open_page(client_id, &[]), choices);
        assert_eq!(r.status, 303, "{}", r.text);
        let loc = r.location();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(param(loc, "state").as_deref(), Some("st-1"));
        assert_eq!(param(loc, "iss").as_deref(), Some(ISS));
        param(loc, "code").unwrap()
    }
    pub(super) fn exchange(&self, client: &Client, code: &str, verifier: &str) -> Out {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client.0),
        ];
        if let Some(s) = &client.1 {
            pairs.push(("client_secret", s));
        }
        self.post("/token", &pairs, &[])
    }
    pub(super) fn refresh(&self, client: &Client, rt: &str) -> Out {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &client.0),
        ];
        if let Some(s) = &client.1 {
            pairs.push(("client_secret", s));
        }
        self.post("/token", &pairs, &[])
    }
    pub(crate) fn tokens_for(&self, client: &Client, choices: &[(&str, &str)]) -> (String, String) {
        tokens(&self.exchange(client, &self.code(&client.0, choices), VERIFIER))
    }
    /// How many live rows the store holds under keys starting with `prefix`.
    pub(super) fn rows(&self, prefix: &str) -> usize {
        let now = self.up.now_ms() / 1000;
        self.oauth
            .state
            .rows
            .borrow()
            .0
            .iter()
            .filter(|(k, r)| k.starts_with(prefix) && (r.2 == 0 || r.2 > now))
            .count()
    }
    /// Another isolate: the same store, its own memo.
    pub(super) fn isolate(&self) -> FakeOAuth {
        FakeOAuth {
            memo: Rc::default(),
            failed_docs: Rc::default(),
            ..self.oauth.clone()
        }
    }
}

pub(super) fn tokens(r: &Out) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    (
        v["access_token"].as_str().unwrap_or("").to_string(),
        v["refresh_token"].as_str().unwrap_or("").to_string(),
    )
}
