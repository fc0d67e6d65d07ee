//! User history: writing one entry per change (inside the change's
//! transaction), and reading it back: the changelog, snapshots of every user
//! as of any instant, and summary counts on any date.

mod changelog;
mod snapshots;
mod stored;
mod summary;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::user_change;

pub use changelog::{ChangeMatch, ChangelogQuery, StoredChanges};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
pub use snapshots::{SnapshotQuery, UserSnapshot};
pub use stored::{StoredChange, StoredChangeStream};
pub use summary::UserSummary;

use super::directory::state::{decode_datasets, decode_roles, encode_datasets, encode_roles};
use super::directory::{
    ChangeType, DatasetRole, RealmCache, Realms, RoleCatalog, UserState, UserStatus,
};
use super::user_counts::{self, Counted};
use super::{Principal, Result, Scope};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::events::{self, Change};
use crate::time::{from_micros, to_micros};

/// One change to one user, with the state before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChange {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub user_id: i32,
    pub user_email: String,
    pub realm: String,
    pub updater: Option<String>,
    pub previous_status: Option<UserStatus>,
    pub status: UserStatus,
    pub previous_roles: Vec<String>,
    pub roles: Vec<String>,
    pub previous_datasets: Vec<DatasetRole>,
    pub datasets: Vec<DatasetRole>,
    pub changes_made: Vec<ChangeType>,
}

/// `valid_to` of a user's latest state: open-ended.
pub const OPEN: i64 = i64::MAX;

/// What `record_change` writes.
pub(crate) struct ChangeRecord<'a> {
    /// The user row after the change.
    pub user: &'a entity::user::Model,
    pub before: Option<&'a UserState>,
    pub after: &'a UserState,
    pub changes: &'a [ChangeType],
    pub at: DateTime<Utc>,
    pub actor: &'a Principal,
    pub deleted: bool,
}

/// Appends a history entry, closes the validity interval of the previous one
/// and adds the change to the daily count rollup.
pub(crate) async fn record_change<C: ConnectionTrait>(db: &C, rec: ChangeRecord<'_>) -> Result<()> {
    let at = to_micros(rec.at);
    user_change::Entity::update_many()
        .col_expr(user_change::Column::ValidTo, Expr::value(at))
        .filter(user_change::Column::UserId.eq(rec.user.id))
        .filter(user_change::Column::ValidTo.eq(OPEN))
        .exec(db)
        .await?;
    let before_roles = rec.before.map(UserState::roles_vec).unwrap_or_default();
    let after_roles = rec.after.roles_vec();
    let deltas = user_counts::deltas(
        rec.before.map(|b| Counted {
            status: b.status,
            roles: &before_roles,
        }),
        (!rec.deleted).then_some(Counted {
            status: rec.after.status,
            roles: &after_roles,
        }),
    );
    user_counts::apply(db, rec.user.realm_id, rec.at, &deltas).await?;
    let (previous_status, previous_roles, previous_datasets) = match rec.before {
        Some(b) => (
            Some(b.status.as_str().to_owned()),
            encode_roles(&b.roles),
            encode_datasets(&b.datasets),
        ),
        None => (None, "[]".to_owned(), "[]".to_owned()),
    };
    let row = user_change::ActiveModel {
        changed_at: Set(at),
        valid_to: Set(OPEN),
        user_id: Set(rec.user.id),
        realm_id: Set(rec.user.realm_id),
        user_email: Set(rec.after.email.clone()),
        user_name: Set(rec.after.name.clone()),
        user_created_at: Set(rec.user.created_at),
        actor_token_id: Set(rec.actor.token_id),
        actor_name: Set(Some(rec.actor.name.clone())),
        previous_status: Set(previous_status),
        status: Set(rec.after.status.as_str().to_owned()),
        previous_roles: Set(previous_roles),
        roles: Set(encode_roles(&rec.after.roles)),
        previous_datasets: Set(previous_datasets),
        datasets: Set(encode_datasets(&rec.after.datasets)),
        change_mask: Set(ChangeType::mask(rec.changes)),
        deleted: Set(rec.deleted),
        ..Default::default()
    }
    .insert(db)
    .await?;
    events::written(Change::UserChange(row.id));
    Ok(())
}

pub(crate) fn to_change(realms: &Realms, m: user_change::Model) -> UserChange {
    UserChange {
        id: m.id,
        date: from_micros(m.changed_at),
        user_id: m.user_id,
        realm: realms.name_of(m.realm_id).to_owned(),
        previous_status: stored::previous_status_of(m.previous_status.as_deref()),
        status: stored::status_of(&m.status),
        previous_roles: decode_roles(&m.previous_roles),
        roles: decode_roles(&m.roles),
        previous_datasets: decode_datasets(&m.previous_datasets),
        datasets: decode_datasets(&m.datasets),
        changes_made: ChangeType::from_mask(m.change_mask),
        user_email: m.user_email,
        updater: m.actor_name,
    }
}

#[derive(Clone)]
pub struct History {
    db: Db,
    clock: SharedClock,
    catalog: Arc<RoleCatalog>,
    realms: RealmCache,
}

impl History {
    pub fn new(db: Db, clock: SharedClock, catalog: Arc<RoleCatalog>, realms: RealmCache) -> Self {
        Self {
            db,
            clock,
            catalog,
            realms,
        }
    }

    /// One change by id (for global ids).
    pub async fn change(&self, actor: &Principal, id: i64) -> Result<Option<UserChange>> {
        actor.require(Scope::ChangelogRead)?;
        let db = self.db.conn();
        let Some(row) = user_change::Entity::find_by_id(id).one(db).await? else {
            return Ok(None);
        };
        let realms = self.realms.get(db).await?;
        let change = to_change(&realms, row);
        // A change outside the caller's reach is as absent as a missing one.
        Ok(actor.sees(&change.realm).then_some(change))
    }
}
