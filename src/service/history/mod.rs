//! User history: writing one entry per change (inside the change's
//! transaction), and reading it back: the changelog, snapshots of every user
//! as of any instant, and summary counts on any date.

mod changelog;
mod snapshots;
mod summary;

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::user_change;

pub use changelog::{ChangeMatch, ChangelogQuery, StoredChanges};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryResult,
    Set, TryGetError, TryGetable, TryGetableMany,
};
use serde::Deserialize;
pub use snapshots::{SnapshotQuery, UserSnapshot};
pub use summary::UserSummary;

use super::directory::state::{
    DatasetRoleRef, decode_datasets, decode_roles, encode_datasets, encode_roles, read_datasets,
    read_roles,
};
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
    let stored = StoredChange {
        id: m.id,
        changed_at: m.changed_at,
        user_id: m.user_id,
        user_email: m.user_email,
        realm_id: m.realm_id,
        updater: m.actor_name,
        previous_status: m.previous_status,
        status: m.status,
        previous_roles: m.previous_roles,
        roles: m.roles,
        previous_datasets: m.previous_datasets,
        datasets: m.datasets,
        change_mask: m.change_mask,
    };
    UserChange {
        date: stored.date(),
        realm: stored.realm(realms).to_owned(),
        previous_status: stored.previous_status(),
        status: stored.status(),
        previous_roles: decode_roles(&stored.previous_roles),
        roles: decode_roles(&stored.roles),
        previous_datasets: decode_datasets(&stored.previous_datasets),
        datasets: decode_datasets(&stored.datasets),
        changes_made: stored.changes_made().collect(),
        id: stored.id,
        user_id: stored.user_id,
        user_email: stored.user_email,
        updater: stored.updater,
    }
}

/// A [`UserChange`] as stored: its columns as read, its lists decoded only
/// when asked for, borrowing from the row (reports read a great many).
/// Also reads as a JSON array of its columns in order (`page::Columns`).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredChange {
    pub id: i64,
    changed_at: i64,
    pub user_id: i32,
    pub user_email: String,
    realm_id: i32,
    pub updater: Option<String>,
    previous_status: Option<String>,
    status: String,
    previous_roles: String,
    roles: String,
    previous_datasets: String,
    datasets: String,
    change_mask: i32,
}

impl StoredChange {
    /// The columns read, in field order.
    const COLUMNS: [user_change::Column; 13] = [
        user_change::Column::Id,
        user_change::Column::ChangedAt,
        user_change::Column::UserId,
        user_change::Column::UserEmail,
        user_change::Column::RealmId,
        user_change::Column::ActorName,
        user_change::Column::PreviousStatus,
        user_change::Column::Status,
        user_change::Column::PreviousRoles,
        user_change::Column::Roles,
        user_change::Column::PreviousDatasets,
        user_change::Column::Datasets,
        user_change::Column::ChangeMask,
    ];

    pub fn date(&self) -> DateTime<Utc> {
        from_micros(self.changed_at)
    }

    pub fn realm<'a>(&self, realms: &'a Realms) -> &'a str {
        realms.name_of(self.realm_id)
    }

    pub fn previous_status(&self) -> Option<UserStatus> {
        self.previous_status.as_deref().and_then(|s| s.parse().ok())
    }

    pub fn status(&self) -> UserStatus {
        self.status.parse().unwrap_or(UserStatus::Active)
    }

    pub fn previous_roles(&self) -> Vec<Cow<'_, str>> {
        read_roles(&self.previous_roles)
    }

    pub fn roles(&self) -> Vec<Cow<'_, str>> {
        read_roles(&self.roles)
    }

    pub fn previous_datasets(&self) -> Vec<DatasetRoleRef<'_>> {
        read_datasets(&self.previous_datasets)
    }

    pub fn datasets(&self) -> Vec<DatasetRoleRef<'_>> {
        read_datasets(&self.datasets)
    }

    pub fn changes_made(&self) -> impl Iterator<Item = ChangeType> + use<> {
        ChangeType::in_mask(self.change_mask)
    }
}

impl TryGetableMany for StoredChange {
    fn try_get_many(res: &QueryResult, pre: &str, cols: &[String]) -> Result<Self, TryGetError> {
        if cols.len() != Self::COLUMNS.len() {
            return Err(TryGetError::DbErr(DbErr::Type(format!(
                "{} columns for a stored change, not {}",
                Self::COLUMNS.len(),
                cols.len()
            ))));
        }
        Self::read(At::Name(res, pre, cols))
    }

    fn try_get_many_by_index(res: &QueryResult) -> Result<Self, TryGetError> {
        Self::read(At::Index(res))
    }
}

/// Where the columns of a row are: by position, or named (with a prefix).
enum At<'a> {
    Index(&'a QueryResult),
    Name(&'a QueryResult, &'a str, &'a [String]),
}

impl At<'_> {
    fn get<T: TryGetable>(&self, i: usize) -> Result<T, TryGetError> {
        match *self {
            At::Index(res) => T::try_get_by_index(res, i),
            At::Name(res, pre, cols) => T::try_get(res, pre, &cols[i]),
        }
    }
}

impl StoredChange {
    /// Reads the columns in field order.
    fn read(at: At<'_>) -> Result<Self, TryGetError> {
        Ok(Self {
            id: at.get(0)?,
            changed_at: at.get(1)?,
            user_id: at.get(2)?,
            user_email: at.get(3)?,
            realm_id: at.get(4)?,
            updater: at.get(5)?,
            previous_status: at.get(6)?,
            status: at.get(7)?,
            previous_roles: at.get(8)?,
            roles: at.get(9)?,
            previous_datasets: at.get(10)?,
            datasets: at.get(11)?,
            change_mask: at.get(12)?,
        })
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
