//! Realms, datasets and the role catalog.

use async_graphql::{Context, Enum, ID, MaybeUndefined, Object, SimpleObject};

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::scalars::Timestamp;
use super::{actor, services};
use crate::service::directory as domain;

#[derive(Clone)]
pub struct Realm(pub domain::Realm);

#[Object]
impl Realm {
    pub async fn id(&self) -> ID {
        GlobalId::Realm(self.0.id).encode()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Licensed seats, drawn against user counts in utilization charts.
    async fn seat_limit(&self) -> Option<i32> {
        self.0.seat_limit
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

#[derive(Clone)]
pub struct Dataset(pub domain::Dataset);

#[Object]
impl Dataset {
    pub async fn id(&self) -> ID {
        GlobalId::Dataset(self.0.id).encode()
    }
    async fn dataset_id(&self) -> i32 {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn realm(&self) -> Realm {
        Realm(self.0.realm.clone())
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

connection!(DatasetConnection, DatasetEdge, Dataset, in_memory);

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::directory::RoleKind")]
pub enum RoleKind {
    App,
    Dataset,
}

/// A role from the catalog: app roles (APP_ADMIN, TEAM_USER, ...) or dataset roles (ANALYST, LABELER, ...).
#[derive(SimpleObject)]
pub struct RoleDefinition {
    name: String,
    kind: RoleKind,
    description: Option<String>,
}

#[derive(Default)]
pub struct RealmQuery;

#[Object]
impl RealmQuery {
    async fn realms(&self, ctx: &Context<'_>) -> ApiResult<Vec<Realm>> {
        let realms = services(ctx).directory.realms(actor(ctx)).await?;
        Ok(realms.into_iter().map(Realm).collect())
    }

    async fn roles(&self, ctx: &Context<'_>, kind: Option<RoleKind>) -> Vec<RoleDefinition> {
        services(ctx)
            .directory
            .catalog()
            .roles(kind.map(Into::into))
            .into_iter()
            .map(|r| RoleDefinition {
                name: r.name,
                kind: r.kind.into(),
                description: r.description,
            })
            .collect()
    }

    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    async fn datasets(
        &self,
        ctx: &Context<'_>,
        realm: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<DatasetConnection>> {
        let services = services(ctx).clone();
        let args = page_args(first, after, last, before);
        let (page, query) = services
            .directory
            .datasets(actor(ctx), realm.as_deref(), &args)
            .await?;
        Ok(Inline(DatasetConnection {
            page: page.map(Dataset),
            total: TotalCount::new(move || {
                let (services, query) = (services.clone(), query.clone());
                async move { services.directory.count_datasets(&query).await }
            }),
        }))
    }
}

#[derive(Default)]
pub struct RealmMutation;

#[Object]
impl RealmMutation {
    async fn create_realm(
        &self,
        ctx: &Context<'_>,
        name: String,
        seat_limit: Option<i32>,
    ) -> ApiResult<Realm> {
        let realm = services(ctx)
            .directory
            .create_realm(actor(ctx), &name, seat_limit)
            .await?;
        Ok(Realm(realm))
    }

    /// Sets the seat limit; `seatLimit: null` clears it, omitting it changes nothing.
    async fn update_realm(
        &self,
        ctx: &Context<'_>,
        name: String,
        seat_limit: MaybeUndefined<i32>,
    ) -> ApiResult<Realm> {
        let seat_limit = match seat_limit {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(n) => Some(Some(n)),
        };
        let realm = services(ctx)
            .directory
            .update_realm(actor(ctx), &name, seat_limit)
            .await?;
        Ok(Realm(realm))
    }

    async fn create_dataset(
        &self,
        ctx: &Context<'_>,
        realm: String,
        name: String,
    ) -> ApiResult<Dataset> {
        let dataset = services(ctx)
            .directory
            .create_dataset(actor(ctx), &realm, &name)
            .await?;
        Ok(Dataset(dataset))
    }
}
