//! Reading users as they stand now.

use std::collections::HashMap;

use entity::user;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder};

use super::state::{decode_datasets, decode_roles};
use super::{Directory, Realms, User, UserStatus};
use crate::service::filter::{
    FilterContext, FilterTarget, UserFilter, holds_any_role, realm_scope,
};
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::from_micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserOrderField {
    #[default]
    UserId,
    Email,
    Name,
    CreatedAt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserOrder {
    pub field: UserOrderField,
    pub direction: Order,
}

impl Default for UserOrder {
    fn default() -> Self {
        Self {
            field: UserOrderField::UserId,
            direction: Order::Asc,
        }
    }
}

/// How `user(...)` names a user.
#[derive(Debug, Clone)]
pub enum UserLookup {
    Id(i32),
    Email {
        email: String,
        realm: Option<String>,
    },
}

/// The filter on the `users` table.
pub(crate) struct UsersTable;

impl FilterTarget for UsersTable {
    fn user_id(&self, ids: Vec<i32>) -> SimpleExpr {
        user::Column::Id.is_in(ids)
    }
    fn email(&self, emails: Vec<String>) -> SimpleExpr {
        user::Column::Email.is_in(emails)
    }
    fn realm_id(&self, ids: Vec<i32>) -> SimpleExpr {
        user::Column::RealmId.is_in(ids)
    }
    fn status(&self, statuses: Vec<String>) -> SimpleExpr {
        user::Column::Status.is_in(statuses)
    }
    fn role(&self, roles: Vec<String>) -> SimpleExpr {
        holds_any_role(user::Column::Roles, user::Column::Datasets, &roles)
    }
}

/// What a page of live users reads of each row, by position.
type PageRow = (i32, i32, String, String, String, String, String, i64, i64);

const PAGE_COLUMNS: [user::Column; 9] = [
    user::Column::Id,
    user::Column::RealmId,
    user::Column::Email,
    user::Column::Name,
    user::Column::Status,
    user::Column::Roles,
    user::Column::Datasets,
    user::Column::CreatedAt,
    user::Column::UpdatedAt,
];

/// A resolved `users` query: which rows, without paging (for `totalCount`).
#[derive(Debug, Clone)]
pub struct UserMatch {
    condition: Condition,
}

impl Directory {
    pub async fn users(
        &self,
        actor: &Principal,
        filter: Option<&UserFilter>,
        order: UserOrder,
        args: &PageArgs,
    ) -> Result<(Page<User>, UserMatch)> {
        actor.require(Scope::UsersRead)?;
        page::validate(args)?;
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let mut condition = Condition::all()
            .add(user::Column::DeletedAt.is_null())
            .add(realm_scope(&UsersTable, &realms, actor));
        if let Some(filter) = filter {
            let cx = FilterContext {
                realms: &realms,
                catalog: &self.catalog,
                actor,
                field: "filter",
            };
            condition = condition.add(filter.condition(&UsersTable, &cx)?);
        }
        let (name, columns) = match order.field {
            UserOrderField::UserId => ("users:id", vec![user::Column::Id]),
            UserOrderField::Email => ("users:email", vec![user::Column::Email, user::Column::Id]),
            UserOrderField::Name => ("users:name", vec![user::Column::Name, user::Column::Id]),
            UserOrderField::CreatedAt => (
                "users:created",
                vec![user::Column::CreatedAt, user::Column::Id],
            ),
        };
        let keyset: Keyset<user::Entity> = Keyset {
            name,
            columns,
            order: order.direction.clone(),
        };
        let field = order.field;
        let page = page::paginate(
            db,
            condition.clone(),
            &keyset,
            args,
            &page::Columns::new(PAGE_COLUMNS.to_vec()),
            |row: &PageRow| {
                let id = KeyPart::Int(row.0.into());
                match field {
                    UserOrderField::UserId => vec![id],
                    UserOrderField::Email => vec![KeyPart::Text(row.2.clone()), id],
                    UserOrderField::Name => vec![KeyPart::Text(row.3.clone()), id],
                    UserOrderField::CreatedAt => vec![KeyPart::Int(row.7), id],
                }
            },
        )
        .await?;
        let page = page.map(
            |(id, realm_id, email, name, status, roles, datasets, created_at, updated_at)| {
                let row = user::Model {
                    id,
                    realm_id,
                    email,
                    name,
                    status,
                    roles,
                    datasets,
                    created_at,
                    updated_at,
                    deleted_at: None,
                    live_key: 0,
                };
                to_user(&realms, row)
            },
        );
        Ok((page, UserMatch { condition }))
    }

    pub async fn count_users(&self, query: &UserMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            user::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// A live user, or None (also for deleted users).
    pub async fn user(&self, actor: &Principal, lookup: UserLookup) -> Result<Option<User>> {
        actor.require(Scope::UsersRead)?;
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        // Users outside the caller's realms are as absent as missing ones.
        let mut query = user::Entity::find()
            .filter(user::Column::DeletedAt.is_null())
            .filter(realm_scope(&UsersTable, &realms, actor));
        match lookup {
            UserLookup::Id(id) => query = query.filter(user::Column::Id.eq(id)),
            UserLookup::Email { email, realm } => {
                query = query.filter(user::Column::Email.eq(email.trim().to_lowercase()));
                if let Some(name) = realm {
                    actor.require_realm(&name)?;
                    let realm = realms.resolve(&name, "realm")?;
                    query = query.filter(user::Column::RealmId.eq(realm.id));
                }
            }
        }
        let rows = query.order_by_asc(user::Column::Id).all(db).await?;
        if rows.len() > 1 {
            return Err(Error::bad_input(
                "realm",
                "users with this email exist in several realms; name the realm",
            ));
        }
        Ok(rows.into_iter().next().map(|row| to_user(&realms, row)))
    }

    /// Live users by id, among those the caller may see (for batch loading).
    pub async fn live_users(&self, actor: &Principal, ids: &[i32]) -> Result<HashMap<i32, User>> {
        actor.require(Scope::UsersRead)?;
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(ids.to_vec()))
            .filter(user::Column::DeletedAt.is_null())
            .filter(realm_scope(&UsersTable, &realms, actor))
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| (m.id, to_user(&realms, m)))
            .collect())
    }

    /// A user by id, deleted or not (for global ids and history links).
    pub async fn user_any(&self, actor: &Principal, id: i32) -> Result<Option<User>> {
        actor.require(Scope::UsersRead)?;
        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let row = user::Entity::find_by_id(id)
            .filter(realm_scope(&UsersTable, &realms, actor))
            .one(db)
            .await?;
        Ok(row.map(|row| to_user(&realms, row)))
    }
}

/// Rows to users (each row holds the whole current state).
pub(crate) fn to_user(realms: &Realms, m: user::Model) -> User {
    User {
        roles: decode_roles(&m.roles),
        datasets: decode_datasets(&m.datasets),
        realm: realms.realm(m.realm_id),
        status: m.status.parse().unwrap_or(UserStatus::Active),
        id: m.id,
        email: m.email,
        name: m.name,
        created_at: from_micros(m.created_at),
        updated_at: from_micros(m.updated_at),
        deleted_at: m.deleted_at.map(from_micros),
    }
}
