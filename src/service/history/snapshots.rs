//! Snapshots: every user that existed at an instant, as they stood then.
//!
//! A user's states are validity intervals `[changed_at, valid_to)`, so "state
//! at T" is `changed_at <= T AND valid_to > T`: one row per user, no search
//! for the latest change per user. Pages walk users in id order.

use chrono::{DateTime, Utc};
use entity::user_change;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

use super::History;
use super::changelog::ChangesTable;
use crate::service::directory::state::{decode_datasets, decode_roles};
use crate::service::directory::{DatasetRole, UserStatus};
use crate::service::filter::{FilterContext, UserFilter, realm_scope};
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs};
use crate::service::user_counts;
use crate::service::{Error, Principal, Result, Scope};
use crate::time::{from_micros, to_micros};

/// One user exactly as they stood at `as_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    pub as_of: DateTime<Utc>,
    pub user_id: i32,
    pub email: String,
    pub name: String,
    pub realm: String,
    pub created_at: DateTime<Utc>,
    pub status: UserStatus,
    pub roles: Vec<String>,
    pub datasets: Vec<DatasetRole>,
}

/// A resolved snapshot query, for `totalCount`.
#[derive(Debug, Clone)]
pub struct SnapshotQuery {
    condition: Condition,
    at: DateTime<Utc>,
    /// Without a filter the count comes from the daily rollup.
    rollup_realms: Option<Option<Vec<i32>>>,
}

impl History {
    pub async fn snapshots(
        &self,
        actor: &Principal,
        at: Option<DateTime<Utc>>,
        filter: Option<&UserFilter>,
        args: &PageArgs,
    ) -> Result<(Page<UserSnapshot>, SnapshotQuery)> {
        actor.require(Scope::UsersRead)?;
        page::validate(args)?;
        let now = self.clock.now();
        let at = at.unwrap_or(now);
        if at > now {
            return Err(Error::bad_input("date", format!("{at} is in the future")));
        }
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let target = ChangesTable {
            current_email_too: false,
        };
        let t = to_micros(at);
        let mut condition = Condition::all()
            .add(user_change::Column::ChangedAt.lte(t))
            .add(user_change::Column::ValidTo.gt(t))
            .add(user_change::Column::Deleted.eq(false))
            .add(realm_scope(&target, &realms, actor));
        if let Some(filter) = filter {
            let cx = FilterContext {
                realms: &realms,
                catalog: &self.catalog,
                actor,
                field: "filter",
            };
            condition = condition.add(filter.condition(&target, &cx)?);
        }
        let keyset: Keyset<user_change::Entity> = Keyset {
            name: "snapshots",
            columns: vec![user_change::Column::UserId],
            order: Order::Asc,
        };
        let page = page::paginate(db, condition.clone(), &keyset, args, &page::Models, |m| {
            vec![KeyPart::Int(m.user_id.into())]
        })
        .await?;
        let rollup_realms = filter.is_none().then(|| realms.visible_ids(&actor.realms));
        let page = page.map(|m| UserSnapshot {
            as_of: at,
            user_id: m.user_id,
            email: m.user_email,
            name: m.user_name,
            realm: realms.name(m.realm_id),
            created_at: from_micros(m.user_created_at),
            status: m.status.parse().unwrap_or(UserStatus::Active),
            roles: decode_roles(&m.roles),
            datasets: decode_datasets(&m.datasets),
        });
        Ok((
            page,
            SnapshotQuery {
                condition,
                at,
                rollup_realms,
            },
        ))
    }

    pub async fn count_snapshots(&self, query: &SnapshotQuery) -> Result<i64> {
        let db = self.db.conn();
        match &query.rollup_realms {
            Some(realm_ids) => {
                let counts = user_counts::counts_at(db, realm_ids.as_deref(), query.at).await?;
                Ok(UserStatus::ALL
                    .iter()
                    .map(|s| {
                        counts
                            .get(&user_counts::status_key(*s))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum())
            }
            None => {
                page::count(
                    db,
                    user_change::Entity::find().filter(query.condition.clone()),
                )
                .await
            }
        }
    }
}
