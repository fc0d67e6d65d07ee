//! User metrics (Indico parity): summary on a date, snapshots as of an
//! instant, and the changelog.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::ApiResult;
use super::history::{UserChangeConnection, UserChangeType, changelog};
use super::inline::Inline;
use super::loaders::UserLoader;
use super::scalars::{Day, Timestamp};
use super::users::{DatasetRole, SortDirection, User, UserFilter, UserStatus, dataset_roles};
use super::{actor, services};
use crate::service::filter;
use crate::service::history::{self as domain, ChangelogQuery};

#[derive(SimpleObject)]
pub struct UserSummaryCounts {
    enabled: i32,
    disabled: i32,
    active: i32,
    dormant: i32,
    suspended: i32,
    total: i32,
}

#[derive(SimpleObject)]
pub struct AppRoleCount {
    role: String,
    count: i32,
}

/// A count as a GraphQL Int (saturating).
pub(super) fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Users as they stood at the end of `date` (in the requested time zone).
#[derive(SimpleObject)]
pub struct UserSummary {
    date: Day,
    realm: Option<String>,
    users: UserSummaryCounts,
    /// Every app role of the catalog, zero counts included.
    app_roles: Vec<AppRoleCount>,
}

impl From<domain::UserSummary> for UserSummary {
    fn from(s: domain::UserSummary) -> Self {
        Self {
            users: UserSummaryCounts {
                enabled: int(s.enabled()),
                disabled: int(s.disabled()),
                active: int(s.active),
                dormant: int(s.dormant),
                suspended: int(s.suspended),
                total: int(s.total()),
            },
            date: Day(s.date),
            realm: s.realm,
            app_roles: s
                .app_roles
                .into_iter()
                .map(|(role, count)| AppRoleCount {
                    role,
                    count: int(count),
                })
                .collect(),
        }
    }
}

/// One user exactly as they stood at `asOf`.
#[derive(Clone)]
pub struct UserSnapshot(pub domain::UserSnapshot);

#[Object]
impl UserSnapshot {
    async fn as_of(&self) -> Timestamp {
        Timestamp(self.0.as_of)
    }
    async fn user_id(&self) -> i32 {
        self.0.user_id
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn realm(&self) -> &str {
        &self.0.realm
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }
    async fn enabled(&self) -> bool {
        self.0.status.enabled()
    }
    async fn roles(&self) -> &[String] {
        &self.0.roles
    }
    async fn datasets(&self) -> Vec<DatasetRole> {
        dataset_roles(&self.0.datasets)
    }
    /// The user's current record; null once deleted.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        Ok(loader.load_one(self.0.user_id).await?.map(User))
    }
}

connection!(UserSnapshotConnection, UserSnapshotEdge, UserSnapshot);

#[derive(InputObject, Clone, Copy)]
pub struct UserChangeOrder {
    #[graphql(default_with = "SortDirection::Asc")]
    direction: SortDirection,
}

#[derive(Default)]
pub struct UserMetricsQuery;

#[Object]
impl UserMetricsQuery {
    /// Counts as of the end of `date` (default: today) in `timeZone` (default UTC).
    async fn user_summary(
        &self,
        ctx: &Context<'_>,
        date: Option<Day>,
        time_zone: Option<String>,
        realm: Option<String>,
    ) -> ApiResult<UserSummary> {
        let summary = services(ctx)
            .history
            .summary(
                actor(ctx),
                date.map(|d| d.0),
                time_zone.as_deref(),
                realm.as_deref(),
            )
            .await?;
        Ok(summary.into())
    }

    /// Every user that existed at `date` (default: now), as they stood then.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn user_snapshots(
        &self,
        ctx: &Context<'_>,
        date: Option<Timestamp>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<UserSnapshotConnection>> {
        let services = services(ctx).clone();
        let filter = filter.map(filter::UserFilter::from);
        let args = page_args(first, after, last, before);
        let (page, query) = services
            .history
            .snapshots(actor(ctx), date.map(|d| d.0), filter.as_ref(), &args)
            .await?;
        Ok(Inline(UserSnapshotConnection {
            page: page.map(UserSnapshot),
            total: TotalCount::new(move || {
                let (services, query) = (services.clone(), query.clone());
                async move { services.history.count_snapshots(&query).await }
            }),
        }))
    }

    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn user_changelog(
        &self,
        ctx: &Context<'_>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        filter: Option<UserFilter>,
        change_types: Option<Vec<UserChangeType>>,
        order_by: Option<UserChangeOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<UserChangeConnection>> {
        let query = ChangelogQuery {
            start: start_date.map(|d| d.0),
            end: end_date.map(|d| d.0),
            filter: filter.map(filter::UserFilter::from),
            change_types: change_types.map(|t| t.into_iter().map(Into::into).collect()),
            descending: order_by.is_some_and(|o| o.direction == SortDirection::Desc),
        };
        changelog(ctx, &query, &page_args(first, after, last, before)).await
    }
}
