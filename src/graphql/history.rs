//! User history as GraphQL: one change with the state before and after it.

use async_graphql::{Context, Enum, ID, Object};

use super::connection::{TotalCount, connection};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::scalars::Timestamp;
use super::users::{DatasetRole, UserStatus, dataset_roles};
use super::{actor, services};
use crate::service::history as domain;
use crate::service::history::ChangelogQuery;
use crate::service::page::PageArgs;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::directory::ChangeType")]
pub enum UserChangeType {
    Created,
    Enablement,
    Status,
    AppRole,
    DatasetRole,
    Profile,
    Deleted,
}

/// One change to one user, with the state before and after it.
#[derive(Clone)]
pub struct UserChange(pub domain::UserChange);

#[Object]
impl UserChange {
    pub async fn id(&self) -> ID {
        GlobalId::UserChange(self.0.id).encode()
    }
    async fn date(&self) -> Timestamp {
        Timestamp(self.0.date)
    }
    async fn user_id(&self) -> i32 {
        self.0.user_id
    }
    async fn user_email(&self) -> &str {
        &self.0.user_email
    }
    async fn realm(&self) -> &str {
        &self.0.realm
    }
    /// The user who made the change; null when an API token or the system made it.
    async fn updated_by(&self) -> Option<i32> {
        None
    }
    /// Email of the user who made it, or the API token's name.
    async fn updater_email(&self) -> Option<&str> {
        self.0.updater.as_deref()
    }
    /// Null on CREATED.
    async fn previously_enabled(&self) -> Option<bool> {
        self.0.previous_status.map(|s| s.enabled())
    }
    async fn enabled(&self) -> bool {
        self.0.status.enabled()
    }
    async fn previous_status(&self) -> Option<UserStatus> {
        self.0.previous_status.map(Into::into)
    }
    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }
    async fn previous_roles(&self) -> &[String] {
        &self.0.previous_roles
    }
    async fn roles(&self) -> &[String] {
        &self.0.roles
    }
    async fn previous_datasets(&self) -> Vec<DatasetRole> {
        dataset_roles(&self.0.previous_datasets)
    }
    async fn datasets(&self) -> Vec<DatasetRole> {
        dataset_roles(&self.0.datasets)
    }
    async fn changes_made(&self) -> Vec<UserChangeType> {
        self.0.changes_made.iter().map(|c| (*c).into()).collect()
    }
}

connection!(UserChangeConnection, UserChangeEdge, UserChange, in_memory);

/// One changelog page, shared by `userChangelog` and `User.changelog`.
pub async fn changelog(
    ctx: &Context<'_>,
    query: &ChangelogQuery,
    args: &PageArgs,
) -> ApiResult<Inline<UserChangeConnection>> {
    let services = services(ctx).clone();
    let (page, count) = services.history.changelog(actor(ctx), query, args).await?;
    Ok(Inline(UserChangeConnection {
        page: page.map(UserChange),
        total: TotalCount::new(move || {
            let (services, count) = (services.clone(), count.clone());
            async move { services.history.count_changes(&count).await }
        }),
    }))
}
