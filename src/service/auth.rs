//! Who is asking, and what they may do. Scopes and realm bindings are checked
//! here, in the domain, so every adapter enforces the same rules.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::directory::normalize_realm;
use super::{Error, Result};

/// What an API token may do. `Admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Admin,
    UsersRead,
    UsersWrite,
    ChangelogRead,
    AuditRead,
    AuditReadAllRealms,
    InsightsRead,
    ActivityWrite,
    ReportsCreate,
    TokensRead,
    TokensWrite,
    CountersShow,
    CountersPeriod,
    CountersMaximum,
    CountersDeleteAll,
    CountersDeleteBefore,
    ApiTokensManage,
    EventsWrite,
    EventsRead,
}

impl Scope {
    pub const ALL: [Scope; 19] = [
        Scope::Admin,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::ChangelogRead,
        Scope::AuditRead,
        Scope::AuditReadAllRealms,
        Scope::InsightsRead,
        Scope::ActivityWrite,
        Scope::ReportsCreate,
        Scope::TokensRead,
        Scope::TokensWrite,
        Scope::CountersShow,
        Scope::CountersPeriod,
        Scope::CountersMaximum,
        Scope::CountersDeleteAll,
        Scope::CountersDeleteBefore,
        Scope::ApiTokensManage,
        Scope::EventsWrite,
        Scope::EventsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "ADMIN",
            Scope::UsersRead => "USERS_READ",
            Scope::UsersWrite => "USERS_WRITE",
            Scope::ChangelogRead => "CHANGELOG_READ",
            Scope::AuditRead => "AUDIT_READ",
            Scope::AuditReadAllRealms => "AUDIT_READ_ALL_REALMS",
            Scope::InsightsRead => "INSIGHTS_READ",
            Scope::ActivityWrite => "ACTIVITY_WRITE",
            Scope::ReportsCreate => "REPORTS_CREATE",
            Scope::TokensRead => "TOKENS_READ",
            Scope::TokensWrite => "TOKENS_WRITE",
            Scope::CountersShow => "COUNTERS_SHOW",
            Scope::CountersPeriod => "COUNTERS_PERIOD",
            Scope::CountersMaximum => "COUNTERS_MAXIMUM",
            Scope::CountersDeleteAll => "COUNTERS_DELETE_ALL",
            Scope::CountersDeleteBefore => "COUNTERS_DELETE_BEFORE",
            Scope::ApiTokensManage => "API_TOKENS_MANAGE",
            Scope::EventsWrite => "EVENTS_WRITE",
            Scope::EventsRead => "EVENTS_READ",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase();
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == wanted)
            .ok_or_else(|| format!("unknown scope '{s}'"))
    }
}

/// The scopes a token holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&scope)
    }

    /// True when every scope of `other` is allowed by these.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.iter().all(|scope| self.allows(*scope))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Stored form: comma-separated names.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn decode(stored: &str) -> Self {
        Self(
            stored
                .split(',')
                .filter_map(|s| s.parse::<Scope>().ok())
                .collect(),
        )
    }
}

/// Where a token may look: every realm, or the listed ones (lowercase names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmAccess {
    All,
    Only(BTreeSet<String>),
}

impl RealmAccess {
    pub fn allows(&self, realm: &str) -> bool {
        match self {
            RealmAccess::All => true,
            RealmAccess::Only(realms) => realms.contains(realm),
        }
    }

    /// True when everything `other` may see, these may see too.
    pub fn covers(&self, other: &RealmAccess) -> bool {
        match (self, other) {
            (RealmAccess::All, _) => true,
            (RealmAccess::Only(_), RealmAccess::All) => false,
            (RealmAccess::Only(mine), RealmAccess::Only(theirs)) => theirs.is_subset(mine),
        }
    }

    pub fn names(&self) -> Option<&BTreeSet<String>> {
        match self {
            RealmAccess::All => None,
            RealmAccess::Only(realms) => Some(realms),
        }
    }

    pub fn encode(&self) -> Option<String> {
        self.names()
            .map(|names| names.iter().cloned().collect::<Vec<_>>().join(","))
    }

    pub fn decode(stored: Option<&str>) -> Self {
        match stored {
            None => RealmAccess::All,
            Some(s) => RealmAccess::Only(
                s.split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }
}

/// The authenticated caller: an API token, or the system itself (CLI, seeding).
#[derive(Debug, Clone)]
pub struct Principal {
    /// None for the system.
    pub token_id: Option<i32>,
    pub name: String,
    pub scopes: Scopes,
    pub realms: RealmAccess,
    /// The caller's address, recorded in audit events.
    pub ip_address: Option<String>,
}

impl Principal {
    /// The system acting on its own behalf (CLI commands, demo data).
    pub fn system() -> Self {
        Self {
            token_id: None,
            name: "system".to_owned(),
            scopes: Scopes::new([Scope::Admin]),
            realms: RealmAccess::All,
            ip_address: None,
        }
    }

    /// Fails with FORBIDDEN unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self> {
        if self.scopes.allows(scope) {
            Ok(self)
        } else {
            Err(Error::forbidden(format!(
                "this token lacks the {scope} scope"
            )))
        }
    }

    /// Fails with FORBIDDEN unless the caller may name the realm `realm`
    /// (as given, any case). Call it before resolving the name: a bound
    /// token gets the same answer for a realm outside its bindings whether
    /// or not that realm exists.
    pub fn require_realm(&self, realm: &str) -> Result<&Self> {
        let realm = normalize_realm(realm);
        if self.realms.allows(&realm) {
            Ok(self)
        } else {
            Err(Error::forbidden(format!(
                "this token may not access realm '{realm}'"
            )))
        }
    }

    /// Whether an object of `realm` (a stored, lowercase name) is within the
    /// caller's reach. One that is not must answer exactly like a missing one.
    pub fn sees(&self, realm: &str) -> bool {
        self.realms.allows(realm)
    }

    /// Fails with FORBIDDEN unless the caller is bound to no realm.
    pub fn require_all_realms(&self, what: &str) -> Result<&Self> {
        match self.realms {
            RealmAccess::All => Ok(self),
            RealmAccess::Only(_) => Err(Error::forbidden(format!(
                "{what} needs a token that is not bound to realms"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_scope() {
        let admin = Scopes::new([Scope::Admin]);
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        let reader = Scopes::new([Scope::UsersRead]);
        assert!(reader.allows(Scope::UsersRead));
        assert!(!reader.allows(Scope::UsersWrite));
        assert!(admin.covers(&reader));
        assert!(!reader.covers(&admin));
    }

    #[test]
    fn scopes_round_trip_through_storage() {
        let scopes = Scopes::new([Scope::UsersRead, Scope::ApiTokensManage]);
        assert_eq!(Scopes::decode(&scopes.encode()), scopes);
    }

    #[test]
    fn realm_access_covers() {
        let a = RealmAccess::Only(["a".to_owned()].into());
        let ab = RealmAccess::Only(["a".to_owned(), "b".to_owned()].into());
        assert!(RealmAccess::All.covers(&ab));
        assert!(ab.covers(&a));
        assert!(!a.covers(&ab));
        assert!(!a.covers(&RealmAccess::All));
        assert_eq!(RealmAccess::decode(ab.encode().as_deref()), ab);
    }
}
