//! The API request log as GraphQL: `apiRequests` (oldest first, paged both
//! ways) and `apiRequestStats`.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::scalars::{Interval, Timestamp};
use super::{actor, services};
use crate::service::range::RangeArgs;
use crate::service::requests::{self as domain, RequestQuery};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RequestOutcome {
    Success,
    Failure,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::requests::Group")]
pub enum ApiRequestGroup {
    Outcome,
    Operation,
    ErrorCode,
    Token,
}

/// One request this gateway served.
#[derive(Clone)]
pub struct ApiRequest(pub domain::ApiRequest);

#[Object]
impl ApiRequest {
    pub async fn id(&self) -> ID {
        GlobalId::ApiRequest(self.0.id).encode()
    }
    async fn date(&self) -> Timestamp {
        Timestamp(self.0.date)
    }
    /// GraphQL operation name (or 'anonymous'), or the HTTP route.
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    async fn outcome(&self) -> RequestOutcome {
        if self.0.success {
            RequestOutcome::Success
        } else {
            RequestOutcome::Failure
        }
    }
    /// The first error's extensions.code on FAILURE.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn duration_ms(&self) -> f64 {
        self.0.duration_ms
    }
    async fn token_name(&self) -> Option<&str> {
        self.0.token_name.as_deref()
    }
    async fn realm(&self) -> Option<&str> {
        self.0.realm.as_deref()
    }
    /// Anonymized: IPv4 last octet and IPv6 last 80 bits zeroed.
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }
}

connection!(ApiRequestConnection, ApiRequestEdge, ApiRequest, in_memory);

#[derive(SimpleObject)]
pub struct ApiRequestStat {
    /// Bucket start; null when no interval was asked for.
    bucket: Option<Timestamp>,
    key: String,
    count: i32,
    /// count / all requests in the bucket.
    ratio: f64,
}

#[derive(Default)]
pub struct RequestQueryRoot;

#[Object]
impl RequestQueryRoot {
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn api_requests(
        &self,
        ctx: &Context<'_>,
        window: Option<String>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        outcome: Option<RequestOutcome>,
        operation: Option<Vec<String>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<ApiRequestConnection>> {
        let services = services(ctx).clone();
        let query = RequestQuery {
            range: RangeArgs {
                window,
                start: start_date.map(|d| d.0),
                end: end_date.map(|d| d.0),
            },
            success: outcome.map(|o| o == RequestOutcome::Success),
            operations: operation,
        };
        let (page, matched) = services
            .api_requests
            .list(actor(ctx), &query, &page_args(first, after, last, before))
            .await?;
        Ok(Inline(ApiRequestConnection {
            page: page.map(ApiRequest),
            total: TotalCount::new(move || {
                let (services, matched) = (services.clone(), matched.clone());
                async move { services.api_requests.count(&matched).await }
            }),
        }))
    }

    async fn api_request_stats(
        &self,
        ctx: &Context<'_>,
        window: Option<String>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        interval: Option<Interval>,
        #[graphql(default_with = "Some(ApiRequestGroup::Outcome)")] group_by: Option<
            ApiRequestGroup,
        >,
    ) -> ApiResult<Vec<ApiRequestStat>> {
        let range = RangeArgs {
            window,
            start: start_date.map(|d| d.0),
            end: end_date.map(|d| d.0),
        };
        let stats = services(ctx)
            .api_requests
            .stats(
                actor(ctx),
                &range,
                interval.map(Into::into),
                group_by.unwrap_or(ApiRequestGroup::Outcome).into(),
            )
            .await?;
        Ok(stats
            .into_iter()
            .map(|s| ApiRequestStat {
                bucket: s.bucket.map(Timestamp),
                key: s.key,
                count: i32::try_from(s.count).unwrap_or(i32::MAX),
                ratio: s.ratio,
            })
            .collect())
    }
}
