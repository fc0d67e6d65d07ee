//! Users: the current directory, and the mutations that write history.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use sea_orm::Order;

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::{ApiError, ApiResult};
use super::history::UserChangeConnection;
use super::ids::GlobalId;
use super::inline::{Inline, InlineList};
use super::realms::Realm;
use super::scalars::Timestamp;
use super::{actor, services};
use crate::service::directory::{self as domain, NewUser, UserLookup, UserUpdate};
use crate::service::filter;
use crate::service::history::ChangelogQuery;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::directory::UserStatus")]
pub enum UserStatus {
    Active,
    Dormant,
    Suspended,
}

#[derive(SimpleObject, Clone)]
pub struct DatasetRole {
    pub dataset_id: i32,
    pub dataset_name: String,
    pub role: String,
}

impl From<domain::DatasetRole> for DatasetRole {
    fn from(d: domain::DatasetRole) -> Self {
        Self {
            dataset_id: d.dataset_id,
            dataset_name: d.dataset_name,
            role: d.role,
        }
    }
}

pub fn dataset_roles(roles: &[domain::DatasetRole]) -> Vec<DatasetRole> {
    roles.iter().cloned().map(DatasetRole::from).collect()
}

#[derive(Clone)]
pub struct User(pub domain::User);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        GlobalId::User(self.0.id).encode()
    }
    async fn user_id(&self) -> i32 {
        self.0.id
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn realm(&self) -> Inline<Realm> {
        Inline(Realm(self.0.realm.clone()))
    }
    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }
    /// False exactly when status is SUSPENDED.
    async fn enabled(&self) -> bool {
        self.0.status.enabled()
    }
    async fn roles(&self) -> InlineList<&str> {
        InlineList(self.0.roles.iter().map(String::as_str).collect())
    }
    async fn datasets(&self) -> InlineList<Inline<DatasetRole>> {
        InlineList(
            dataset_roles(&self.0.datasets)
                .into_iter()
                .map(Inline)
                .collect(),
        )
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }
    async fn deleted_at(&self) -> Option<Timestamp> {
        self.0.deleted_at.map(Timestamp)
    }

    /// This user's changes, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    async fn changelog(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<UserChangeConnection>> {
        let args = page_args(first, after, last, before);
        let query = ChangelogQuery {
            filter: Some(filter::UserFilter {
                user_id: Some(vec![self.0.id]),
                ..Default::default()
            }),
            ..Default::default()
        };
        // Boxed: this is the one field of a user that reads the database, and
        // its future is large; inline, every field of every user on a page
        // would carry (and copy) its size.
        Box::pin(super::history::changelog(ctx, &query, &args)).await
    }

    /// The tokens assigned to this user.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<super::tokens::TokenConnection>> {
        let args = page_args(first, after, last, before);
        Box::pin(super::tokens::user_tokens(ctx, self.0.id, args)).await
    }
}

connection!(UserConnection, UserEdge, User, in_memory);

/// Each given field must match (any of its values); AND needs every
/// sub-filter, OR any of them.
#[derive(InputObject, Clone, Default)]
pub struct UserFilter {
    user_id: Option<Vec<i32>>,
    user_email: Option<Vec<String>>,
    realm: Option<Vec<String>>,
    status: Option<Vec<UserStatus>>,
    role: Option<Vec<String>>,
    #[graphql(name = "AND")]
    and: Option<Vec<UserFilter>>,
    #[graphql(name = "OR")]
    or: Option<Vec<UserFilter>>,
}

impl From<UserFilter> for filter::UserFilter {
    fn from(f: UserFilter) -> Self {
        Self {
            user_id: f.user_id,
            user_email: f.user_email,
            realm: f.realm,
            status: f.status.map(|s| s.into_iter().map(Into::into).collect()),
            role: f.role,
            and: f
                .and
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            or: f
                .or
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

impl From<SortDirection> for Order {
    fn from(d: SortDirection) -> Self {
        match d {
            SortDirection::Asc => Order::Asc,
            SortDirection::Desc => Order::Desc,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::service::directory::UserOrderField")]
pub enum UserOrderField {
    #[default]
    UserId,
    Email,
    Name,
    CreatedAt,
}

#[derive(InputObject, Clone, Copy)]
pub struct UserOrder {
    #[graphql(default_with = "UserOrderField::UserId")]
    field: UserOrderField,
    #[graphql(default_with = "SortDirection::Asc")]
    direction: SortDirection,
}

#[derive(InputObject)]
pub struct DatasetRoleInput {
    dataset_id: i32,
    role: String,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    realm: String,
    email: String,
    name: String,
    #[graphql(default_with = "Some(UserStatus::Active)")]
    status: Option<UserStatus>,
    #[graphql(default_with = "Some(Vec::new())")]
    roles: Option<Vec<String>>,
    #[graphql(default_with = "Some(Vec::new())")]
    datasets: Option<Vec<DatasetRoleInput>>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    user_id: i32,
    email: Option<String>,
    name: Option<String>,
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        order_by: Option<UserOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<UserConnection>> {
        let services = services(ctx).clone();
        let filter = filter.map(filter::UserFilter::from);
        let order = order_by
            .map(|o| domain::UserOrder {
                field: o.field.into(),
                direction: o.direction.into(),
            })
            .unwrap_or_default();
        let args = page_args(first, after, last, before);
        let (page, query) = services
            .directory
            .users(actor(ctx), filter.as_ref(), order, &args)
            .await?;
        Ok(Inline(UserConnection {
            page: page.map(User),
            total: TotalCount::new(move || {
                let (services, query) = (services.clone(), query.clone());
                async move { services.directory.count_users(&query).await }
            }),
        }))
    }

    /// A live user by id, or by email (and realm when the email is in several).
    async fn user(
        &self,
        ctx: &Context<'_>,
        user_id: Option<i32>,
        email: Option<String>,
        realm: Option<String>,
    ) -> ApiResult<Option<User>> {
        let lookup = match (user_id, email) {
            (Some(id), None) => UserLookup::Id(id),
            (None, Some(email)) => UserLookup::Email { email, realm },
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_input(
                    "email",
                    "give userId or email, not both",
                ));
            }
            (None, None) => return Err(ApiError::bad_input("userId", "give userId or email")),
        };
        let user = services(ctx).directory.user(actor(ctx), lookup).await?;
        Ok(user.map(User))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
        let new = NewUser {
            realm: input.realm,
            email: input.email,
            name: input.name,
            status: input.status.unwrap_or(UserStatus::Active).into(),
            roles: input.roles.unwrap_or_default(),
            datasets: input
                .datasets
                .unwrap_or_default()
                .into_iter()
                .map(|d| (d.dataset_id, d.role))
                .collect(),
        };
        let user = services(ctx).directory.create_user(actor(ctx), new).await?;
        Ok(User(user))
    }

    async fn update_user(&self, ctx: &Context<'_>, input: UpdateUserInput) -> ApiResult<User> {
        let update = UserUpdate {
            user_id: input.user_id,
            email: input.email,
            name: input.name,
        };
        let user = services(ctx)
            .directory
            .update_user(actor(ctx), update)
            .await?;
        Ok(User(user))
    }

    async fn set_user_status(
        &self,
        ctx: &Context<'_>,
        user_id: i32,
        status: UserStatus,
    ) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .set_user_status(actor(ctx), user_id, status.into())
            .await?;
        Ok(User(user))
    }

    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: i32,
        roles: Vec<String>,
    ) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .set_user_roles(actor(ctx), user_id, &roles)
            .await?;
        Ok(User(user))
    }

    async fn add_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: i32,
        roles: Vec<String>,
    ) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .add_user_roles(actor(ctx), user_id, &roles)
            .await?;
        Ok(User(user))
    }

    async fn remove_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: i32,
        roles: Vec<String>,
    ) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .remove_user_roles(actor(ctx), user_id, &roles)
            .await?;
        Ok(User(user))
    }

    /// role null revokes the user's access to the dataset.
    async fn set_dataset_role(
        &self,
        ctx: &Context<'_>,
        user_id: i32,
        dataset_id: i32,
        role: Option<String>,
    ) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .set_dataset_role(actor(ctx), user_id, dataset_id, role.as_deref())
            .await?;
        Ok(User(user))
    }

    /// Soft delete: the user disappears from current views, their history stays.
    async fn delete_user(&self, ctx: &Context<'_>, user_id: i32) -> ApiResult<User> {
        let user = services(ctx)
            .directory
            .delete_user(actor(ctx), user_id)
            .await?;
        Ok(User(user))
    }
}
