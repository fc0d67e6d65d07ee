//! Product events as GraphQL: `registerEvents` (a batch, all or nothing)
//! and `events` (newest first, with the resolved range echoed).

use async_graphql::{Context, ID, InputObject, Object};

use super::connection::{TotalCount, cost, page_args, ranged_connection};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::scalars::{Json, Timestamp};
use super::{actor, services};
use crate::service::product_events::{self as domain, EventQuery, NewProductEvent};
use crate::service::range::RangeArgs;

/// One product event, as an application reports it.
#[derive(InputObject)]
pub struct EventInput {
    /// A live user the token may see; the event belongs to the user's realm.
    user_id: i32,
    /// What part of the product (at most 100 characters).
    feature: String,
    /// What happened (at most 100 characters).
    event: String,
    /// An amount, a duration, a count...
    value: Option<f64>,
    /// ISO 4217 code of `value` (needs a value).
    currency: Option<String>,
    /// Anything else, as JSON (at most 4096 bytes).
    metadata: Option<Json>,
    /// Default: now. At most 5 minutes ahead of the server's clock.
    occurred_at: Option<Timestamp>,
}

impl From<EventInput> for NewProductEvent {
    fn from(input: EventInput) -> Self {
        Self {
            user_id: input.user_id,
            feature: input.feature,
            event: input.event,
            value: input.value,
            currency: input.currency,
            metadata: input.metadata.map(|m| m.0),
            occurred_at: input.occurred_at.map(|t| t.0),
        }
    }
}

/// Something an application reported one of its users did.
#[derive(Clone)]
pub struct ProductEvent(pub domain::ProductEvent);

#[Object]
impl ProductEvent {
    pub async fn id(&self) -> ID {
        GlobalId::ProductEvent(self.0.id).encode()
    }
    async fn occurred_at(&self) -> Timestamp {
        Timestamp(self.0.occurred_at)
    }
    /// When registerEvents stored it.
    async fn recorded_at(&self) -> Timestamp {
        Timestamp(self.0.recorded_at)
    }
    /// The user's realm.
    async fn realm(&self) -> &str {
        &self.0.realm
    }
    async fn user_id(&self) -> i32 {
        self.0.user_id
    }
    async fn feature(&self) -> &str {
        &self.0.feature
    }
    async fn event(&self) -> &str {
        &self.0.event
    }
    async fn value(&self) -> Option<f64> {
        self.0.value
    }
    async fn currency(&self) -> Option<&str> {
        self.0.currency.as_deref()
    }
    async fn metadata(&self) -> Option<Json> {
        self.0.metadata.clone().map(Json)
    }
}

ranged_connection!(ProductEventConnection, ProductEventEdge, ProductEvent);

#[derive(Default)]
pub struct ProductEventQuery;

#[Object]
impl ProductEventQuery {
    /// Product events, newest first. window (e.g. 12h, 7d, 90 = seconds) cannot be
    /// combined with startDate/endDate; neither: the last 24 hours. Without realm:
    /// every realm the token may see.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        ctx: &Context<'_>,
        window: Option<String>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        realm: Option<String>,
        feature: Option<Vec<String>>,
        event: Option<Vec<String>>,
        user_id: Option<Vec<i32>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<ProductEventConnection>> {
        let services = services(ctx).clone();
        let query = EventQuery {
            range: RangeArgs {
                window,
                start: start_date.map(|d| d.0),
                end: end_date.map(|d| d.0),
            },
            realm,
            features: feature,
            events: event,
            user_ids: user_id,
        };
        let (page, matched) = services
            .product_events
            .list(actor(ctx), &query, &page_args(first, after, last, before))
            .await?;
        let range = matched.range;
        Ok(Inline(ProductEventConnection {
            page: page.map(ProductEvent),
            total: TotalCount::new(move || {
                let (services, matched) = (services.clone(), matched.clone());
                async move { services.product_events.count(&matched).await }
            }),
            range,
        }))
    }
}

#[derive(Default)]
pub struct ProductEventMutation;

#[Object]
impl ProductEventMutation {
    /// Registers up to 10,000 product events in one transaction; returns how
    /// many. A bad row rejects the whole batch (extensions.field names it,
    /// e.g. input[3].userId) and nothing is written.
    async fn register_events(&self, ctx: &Context<'_>, input: Vec<EventInput>) -> ApiResult<i32> {
        let batch = input.into_iter().map(NewProductEvent::from).collect();
        let count = services(ctx)
            .product_events
            .register(actor(ctx), batch)
            .await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}
