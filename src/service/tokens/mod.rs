//! Authentication tokens (the ones people carry) and their counters, LinOTP's
//! reporting done incrementally: every token event updates its realms' live
//! tallies in its own transaction and records the counts its realms' policies
//! ask for; the queries read those records (docs/TOKENS.md).

mod counters;
mod policies;
mod reads;
mod status;
mod tally;
mod writes;

use chrono::{DateTime, Utc};

pub use counters::{
    Counter, CounterMatch, CounterOrder, CounterOrderField, Deletion, MAX_REALMS, PeriodReport,
};
pub use policies::policy_of;
pub use reads::TokenMatch;
pub use status::{RealmCounts, TokenStatus};
pub use tally::add_to_cell;
pub use writes::NewToken;

use super::directory::{RealmCache, Realms};
use super::{Principal, RealmAccess};
use crate::clock::SharedClock;
use crate::db::Db;

/// The realm name tokens without a realm are counted under (LinOTP's).
pub const NO_REALM: &str = "/:no realm:/";

/// The policy of realms without one of their own.
pub const DEFAULT_POLICY: &str = "*";

/// A token as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i32,
    pub serial: String,
    pub kind: String,
    /// None: in no realm.
    pub realm: Option<String>,
    pub user_id: Option<i32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl Token {
    pub fn assigned(&self) -> bool {
        self.user_id.is_some()
    }
}

/// Token and counter operations. Each takes the caller and checks its scopes
/// and realms.
#[derive(Clone)]
pub struct Tokens {
    db: Db,
    clock: SharedClock,
    realms: RealmCache,
}

impl Tokens {
    pub fn new(db: Db, clock: SharedClock, realms: RealmCache) -> Self {
        Self { db, clock, realms }
    }
}

/// The name a realm's counts go under: its own, or [`NO_REALM`].
fn realm_key(realms: &Realms, realm_id: Option<i32>) -> String {
    match realm_id {
        Some(id) => realms.name(id),
        None => NO_REALM.to_owned(),
    }
}

/// Whether the caller may see tokens and counts of `key` (a stored realm
/// name or [`NO_REALM`]): tokens without a realm only to callers bound to
/// no realm.
fn sees_key(actor: &Principal, key: &str) -> bool {
    match &actor.realms {
        RealmAccess::All => true,
        RealmAccess::Only(_) => key != NO_REALM && actor.sees(key),
    }
}
