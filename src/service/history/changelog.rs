//! The changelog: changes in a half-open date range, filtered, in (date, id)
//! order either way, paged by keyset.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{user, user_change};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

use super::stored::{StoredChangeStream, StoredRows};
use super::{History, StoredChange, UserChange, to_change};
use crate::service::directory::{ChangeType, Realms};
use crate::service::filter::{
    FilterContext, FilterTarget, UserFilter, holds_any_role, realm_scope,
};
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs, Rows};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::to_micros;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ChangelogQuery {
    /// Inclusive.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive.
    pub end: Option<DateTime<Utc>>,
    pub filter: Option<UserFilter>,
    /// Changes of any of these types (None: all).
    pub change_types: Option<Vec<ChangeType>>,
    pub descending: bool,
}

/// A resolved changelog query, for `totalCount`.
#[derive(Debug, Clone)]
pub struct ChangeMatch {
    condition: Condition,
}

/// A page of the changelog as stored, and the realms its rows name.
pub struct StoredChanges {
    pub page: Page<StoredChange>,
    pub realms: Arc<Realms>,
}

/// The filter read on `user_changes`: the state after each change.
pub(super) struct ChangesTable {
    /// Match an email against the user's current address as well as the one
    /// they had at the change (a renamed user's older changes still match).
    pub current_email_too: bool,
}

impl FilterTarget for ChangesTable {
    fn user_id(&self, ids: Vec<i32>) -> SimpleExpr {
        user_change::Column::UserId.is_in(ids)
    }

    fn email(&self, emails: Vec<String>) -> SimpleExpr {
        let at_change = user_change::Column::UserEmail.is_in(emails.clone());
        if !self.current_email_too {
            return at_change;
        }
        let now = Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(user::Column::Email.is_in(emails))
            .to_owned();
        at_change.or(Expr::col(user_change::Column::UserId).in_subquery(now))
    }

    fn realm_id(&self, ids: Vec<i32>) -> SimpleExpr {
        user_change::Column::RealmId.is_in(ids)
    }

    fn status(&self, statuses: Vec<String>) -> SimpleExpr {
        user_change::Column::Status.is_in(statuses)
    }

    fn role(&self, roles: Vec<String>) -> SimpleExpr {
        holds_any_role(
            user_change::Column::Roles,
            user_change::Column::Datasets,
            &roles,
        )
    }
}

fn keyset(descending: bool) -> Keyset<user_change::Entity> {
    Keyset {
        name: "changes",
        columns: vec![user_change::Column::ChangedAt, user_change::Column::Id],
        order: if descending { Order::Desc } else { Order::Asc },
    }
}

impl History {
    pub async fn changelog(
        &self,
        actor: &Principal,
        query: &ChangelogQuery,
        args: &PageArgs,
    ) -> Result<(Page<UserChange>, ChangeMatch)> {
        let (page, realms, matched) = self
            .read_changelog(actor, query, args, &page::Models)
            .await?;
        Ok((page.map(|m| to_change(&realms, m)), matched))
    }

    /// [`History::changelog`] as stored, for reading a great many rows
    /// (reports): each row's columns read by position (on SQLite a whole
    /// page is one value; elsewhere its text stays in the driver's row),
    /// its lists decoded only when they are written; only the last row has
    /// a cursor (where the next page starts).
    pub async fn stored_changelog(
        &self,
        actor: &Principal,
        query: &ChangelogQuery,
        args: &PageArgs,
    ) -> Result<(StoredChanges, ChangeMatch)> {
        let (page, realms, matched) = self
            .read_changelog(actor, query, args, &StoredRows::new())
            .await?;
        Ok((StoredChanges { page, realms }, matched))
    }

    /// The changelog's page, its rows read by `rows`.
    async fn read_changelog<F: Rows<user_change::Entity>>(
        &self,
        actor: &Principal,
        query: &ChangelogQuery,
        args: &PageArgs,
        rows: &F,
    ) -> Result<(Page<F::Row>, Arc<Realms>, ChangeMatch)>
    where
        F::Row: ChangeKey,
    {
        actor.require(Scope::ChangelogRead)?;
        page::validate(args)?;
        let (condition, realms) = self.matching(actor, query).await?;
        let page = page::paginate(
            self.db.conn(),
            condition.clone(),
            &keyset(query.descending),
            args,
            rows,
            |row| {
                let (changed_at, id) = row.key();
                vec![KeyPart::Int(changed_at), KeyPart::Int(id)]
            },
        )
        .await?;
        Ok((page, realms, ChangeMatch { condition }))
    }

    /// [`History::stored_changelog`] read through: the changes after the
    /// cursor `after` (from the first without one), at most `limit`, in one
    /// statement whose rows arrive while the database produces the rest.
    /// PostgreSQL and MySQL then read on while the caller handles a change,
    /// where a page at a time left the database idle between pages. (On
    /// SQLite a page is one value the database builds: read it by page.)
    pub async fn walk_changelog(
        &self,
        actor: &Principal,
        query: &ChangelogQuery,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(StoredChangeStream, Arc<Realms>, ChangeMatch)> {
        actor.require(Scope::ChangelogRead)?;
        let (condition, realms) = self.matching(actor, query).await?;
        let select = page::walk(condition.clone(), &keyset(query.descending), after, limit)?;
        let changes = StoredRows::stream(self.db.conn(), select).await?;
        Ok((changes, realms, ChangeMatch { condition }))
    }

    /// The condition the query's changes meet, as `actor` may read them,
    /// and the realms.
    async fn matching(
        &self,
        actor: &Principal,
        query: &ChangelogQuery,
    ) -> Result<(Condition, Arc<Realms>)> {
        if let (Some(start), Some(end)) = (query.start, query.end)
            && start > end
        {
            return Err(Error::bad_input(
                "startDate",
                format!("startDate {start} is after endDate {end}"),
            ));
        }
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let target = ChangesTable {
            current_email_too: true,
        };
        let mut condition = Condition::all().add(realm_scope(&target, &realms, actor));
        if let Some(start) = query.start {
            condition = condition.add(user_change::Column::ChangedAt.gte(to_micros(start)));
        }
        if let Some(end) = query.end {
            condition = condition.add(user_change::Column::ChangedAt.lt(to_micros(end)));
        }
        if let Some(types) = &query.change_types {
            let mask = ChangeType::mask(types);
            condition = condition.add(
                Expr::col(user_change::Column::ChangeMask)
                    .bit_and(mask)
                    .ne(0),
            );
        }
        if let Some(filter) = &query.filter {
            let cx = FilterContext {
                realms: &realms,
                catalog: &self.catalog,
                actor,
                field: "filter",
            };
            condition = condition.add(filter.condition(&target, &cx)?);
        }
        Ok((condition, realms))
    }

    pub async fn count_changes(&self, query: &ChangeMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            user_change::Entity::find().filter(query.condition.clone()),
        )
        .await
    }
}

/// A change's place in the changelog's order: (changed_at, id).
trait ChangeKey {
    fn key(&self) -> (i64, i64);
}

impl ChangeKey for user_change::Model {
    fn key(&self) -> (i64, i64) {
        (self.changed_at, self.id)
    }
}

impl ChangeKey for StoredChange {
    fn key(&self) -> (i64, i64) {
        (self.changed_at, self.id)
    }
}

impl StoredChange {
    /// The cursor a page after this change starts from (either order).
    pub fn cursor(&self) -> String {
        page::cursor(
            &keyset(false),
            vec![KeyPart::Int(self.changed_at), KeyPart::Int(self.id)],
        )
    }
}
