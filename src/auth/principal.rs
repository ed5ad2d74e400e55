//! Principals and scopes (docs/permissions.md §1, §2): who made a request and
//! what they may do. A principal is a static token from `MCP_AUTH_TOKEN` or a
//! signed-in (OAuth) user's grant; both carry scopes the same way, and the kind
//! decides how a missing scope is refused and how calls are counted.

/// One permission of docs/permissions.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every read: gets, lists, the callback log, `manage_team` `list`.
    Read,
    /// Creates and changes of tasks, batches, projects and files.
    Write,
    /// `manage_team` invites and role changes.
    Team,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Team];

    /// The scope's name as tokens and OAuth grants carry it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "scale:read",
            Scope::Write => "scale:write",
            Scope::Team => "scale:team",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Team => 4,
        }
    }
}

/// A set of scopes with the hierarchy of §2 applied: `scale:write` and
/// `scale:team` each include `scale:read`, so a set is closed under it from the
/// start and a check is one bit test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub const ALL: Scopes = Scopes(7);
    pub const NONE: Scopes = Scopes(0);

    pub fn of(scopes: &[Scope]) -> Scopes {
        let mut bits = scopes.iter().fold(0, |b, s| b | s.bit());
        if bits & (Scope::Write.bit() | Scope::Team.bit()) != 0 {
            bits |= Scope::Read.bit();
        }
        Scopes(bits)
    }

    pub fn allows(self, needed: Scope) -> bool {
        self.0 & needed.bit() != 0
    }

    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    /// The names of the scopes held, in §2's order, comma-separated.
    pub fn names(self) -> String {
        let mut out = String::new();
        for s in Scope::ALL {
            if self.allows(s) {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(s.name());
            }
        }
        out
    }
}

/// How a principal proved who it is; decides how a missing scope is refused
/// (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A token from `MCP_AUTH_TOKEN`. A missing scope is a tool error naming
    /// it: nothing the client can do would grant it.
    StaticToken,
    /// An OAuth grant: the user can sign in again and grant a missing scope.
    Grant,
}

impl PrincipalKind {
    /// Whether signing in again could add a missing scope, so a refusal in a
    /// single-message request should be §2's HTTP 403 `insufficient_scope`
    /// step-up answer instead of a tool error: only for grants.
    pub fn steps_up(self) -> bool {
        self == PrincipalKind::Grant
    }
}

/// Who made a request: named in audit lines and refusals by `label`, never
/// by a token value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub label: String,
    pub kind: PrincipalKind,
    pub scopes: Scopes,
}

impl Principal {
    /// A static token with every scope (tests and tools that build contexts).
    pub fn full(label: &str) -> Principal {
        Principal {
            label: label.to_string(),
            kind: PrincipalKind::StaticToken,
            scopes: Scopes::ALL,
        }
    }
    /// A signed-in user's grant, named by its label (`oauth:…:{grant id}`,
    /// from the grant's record), with the scopes the user granted.
    pub fn grant(label: String, scopes: Scopes) -> Principal {
        Principal {
            label,
            kind: PrincipalKind::Grant,
            scopes,
        }
    }
    /// How refusals name the principal: by label, never by token.
    pub fn describe(&self) -> String {
        match self.kind {
            PrincipalKind::StaticToken => format!("token `{}`", self.label),
            PrincipalKind::Grant => format!("the sign-in `{}`", self.label),
        }
    }
    /// The key the rate limiter counts this principal's calls under: a
    /// grant's label ends with its grant id, so each grant counts alone
    /// (several grants made with one operator token do not share a count).
    pub fn rate_key(&self) -> String {
        match self.kind {
            PrincipalKind::StaticToken => format!("token:{}", self.label),
            PrincipalKind::Grant => format!("grant:{}", self.label),
        }
    }
}
