//! What one request runs with, once the router has let it in: the
//! operator's configuration, the platform [`Services`], the caller's
//! [`Identity`] and their connection's [`View`], the request's upstream
//! [`Budget`], where progress reports go, and the lines it adds to the
//! worker log. Built by the router for `/mcp`; read by the protocol and the
//! tools, which change nothing in it but the log lines and progress.

mod budget;
mod join;

pub(crate) use budget::{Budget, REQUEST_BUDGET_MS};
pub(crate) use join::{join_all, join_bounded, MAX_OPEN_CONNECTIONS};

use crate::auth::{Identity, View};
use crate::config::Config;
use crate::io::{RateLimiter, Services, Upstream};
use std::cell::RefCell;
use std::rc::Rc;

/// One progress report of a long tool call: how far it got, out of how
/// much when that is known, and what is happening, for the person watching.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Report {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: String,
}

/// Where a long tool call puts its progress reports while it runs; the
/// transport takes them out and sends them as notifications.
#[derive(Debug, Default)]
pub(crate) struct Progress(RefCell<Vec<Report>>);

impl Progress {
    pub(crate) fn take(&self) -> Vec<Report> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// What one request runs with. Cloning it is cheap (the parts are shared),
/// so work that outlives the handler's frame, such as a streamed answer, can
/// own one.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The operator's settings: the same for every caller.
    pub config: Rc<Config>,
    pub services: Services,
    pub budget: Rc<Budget>,
    /// Who is calling, with whose Scale key, on whose account.
    pub identity: Rc<Identity>,
    /// What this connection may do.
    pub view: Rc<View>,
    /// `scheme://host[:port]` the request came to.
    pub self_origin: Rc<str>,
    /// The path the request came to (`/mcp`, `/mcp/readonly`, …): with
    /// the origin, the URL a client connected to.
    pub path: Rc<str>,
    /// The id audit lines carry.
    pub request_id: Rc<str>,
    /// The request's headers that narrow the connection (`auth::view`'s
    /// `NARROWING`), which a job started by it keeps.
    pub narrowing: Rc<[(String, String)]>,
    /// Set by the transport when the answer streams progress to the client.
    pub progress: Option<Rc<Progress>>,
    /// Whether the request is one message answered with its own HTTP status:
    /// only then may a signed-in user's missing scope get the 403 step-up
    /// answer of docs/permissions.md §2. The transport clears it in a batch and
    /// a stream.
    pub single: bool,
    /// Lines for the worker log (never argument values or secrets): notes
    /// for the request's own line and audit lines (JSON, see
    /// [`crate::http::is_audit_line`]), which the edge prints one each.
    pub notes: Rc<RefCell<Vec<String>>>,
}

impl Ctx {
    /// The context of a request that came to `self_origin` and `path`, from
    /// the caller `identity` on a connection with `view`.
    pub(crate) fn new(
        config: Config,
        services: Services,
        identity: Identity,
        view: View,
        (self_origin, path): (&str, &str),
        request_id: &str,
    ) -> Self {
        let budget = Budget::new(
            services.upstream.now_ms(),
            REQUEST_BUDGET_MS,
            config.subrequest_limit,
        );
        Self {
            config: Rc::new(config),
            services,
            budget: Rc::new(budget),
            identity: Rc::new(identity),
            view: Rc::new(view),
            self_origin: self_origin.into(),
            path: path.into(),
            request_id: request_id.into(),
            narrowing: Rc::new([]),
            progress: None,
            single: true,
            notes: Rc::default(),
        }
    }
    /// A context on the operator's account with every scope and no
    /// narrowing, as a full-access static token on `/mcp` has (for tests).
    #[cfg(test)]
    pub(crate) fn full_access(config: Config, services: Services) -> Self {
        let principal = crate::auth::Principal::full("test");
        let view = View::full(&principal);
        let origin = "https://worker.example";
        let identity = Identity::operator(principal, &config, services.store.clone(), origin);
        Self::new(config, services, identity, view, (origin, "/mcp"), "test")
    }
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }
    pub(crate) fn view(&self) -> &View {
        &self.view
    }
    /// Reports progress; kept only when the client asked for it.
    pub(crate) fn report(&self, progress: f64, total: Option<f64>, message: String) {
        if let Some(p) = &self.progress {
            p.0.borrow_mut().push(Report {
                progress,
                total,
                message,
            });
        }
    }
    /// Adds a line to the worker log of this request: a note, or an audit
    /// line when it is a JSON object.
    pub(crate) fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
    /// The audit lines written so far, taken out of the log (for tests).
    #[cfg(test)]
    pub(crate) fn take_audit(&self) -> Vec<String> {
        let (audit, notes) = self
            .take_notes()
            .into_iter()
            .partition(|l| crate::http::is_audit_line(l));
        *self.notes.borrow_mut() = notes;
        audit
    }
    pub(crate) fn upstream(&self) -> &dyn Upstream {
        &*self.services.upstream
    }
    pub(crate) fn limiter(&self) -> Option<&dyn RateLimiter> {
        self.services.limiter.as_deref()
    }
}
