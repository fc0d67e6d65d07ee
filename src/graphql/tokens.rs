//! Tokens people carry, and their counters (LinOTP reporting). Thin: every
//! rule lives in `crate::service::tokens`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::loaders::UserLoader;
use super::scalars::{Day, Timestamp};
use super::users::{SortDirection, User};
use super::{actor, services};
use crate::service::tokens::{self as domain, Deletion, NewToken};

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Clone)]
pub struct Token(pub domain::Token);

#[Object]
impl Token {
    pub async fn id(&self) -> ID {
        GlobalId::Token(self.0.id).encode()
    }
    async fn serial(&self) -> &str {
        &self.0.serial
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn realm(&self) -> Option<&str> {
        self.0.realm.as_deref()
    }
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(user_id) = self.0.user_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        Ok(loader.load_one(user_id).await?.map(User))
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn assigned(&self) -> bool {
        self.0.assigned()
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

connection!(TokenConnection, TokenEdge, Token);

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::tokens::TokenStatus")]
pub enum TokenStatus {
    Total,
    Active,
    Inactive,
    Assigned,
    Unassigned,
    ActiveAssigned,
    ActiveUnassigned,
    InactiveAssigned,
    InactiveUnassigned,
    /// Distinct users holding at least one active, assigned token.
    TotalUsers,
}

pub(super) fn domain_statuses(
    statuses: Option<Vec<TokenStatus>>,
) -> Option<Vec<domain::TokenStatus>> {
    statuses.map(|s| s.into_iter().map(Into::into).collect())
}

/// A recorded count: how many tokens of `status` the realm held right after `event`.
#[derive(Clone)]
pub struct TokenCounter(pub domain::Counter);

#[Object]
impl TokenCounter {
    pub async fn id(&self) -> ID {
        GlobalId::TokenCounter(self.0.id).encode()
    }
    async fn date(&self) -> Timestamp {
        Timestamp(self.0.date)
    }
    async fn event(&self) -> &str {
        &self.0.event
    }
    async fn realm(&self) -> &str {
        &self.0.realm
    }
    async fn status(&self) -> TokenStatus {
        self.0.status.into()
    }
    async fn count(&self) -> i32 {
        int(self.0.count)
    }
}

connection!(
    TokenCounterConnection,
    TokenCounterEdge,
    TokenCounter,
    in_memory
);

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::service::tokens::CounterOrderField")]
pub enum TokenCounterOrderField {
    #[default]
    Date,
    Event,
    Realm,
    Status,
    Count,
}

#[derive(InputObject, Clone, Copy)]
pub struct TokenCounterOrder {
    #[graphql(default_with = "TokenCounterOrderField::Date")]
    field: TokenCounterOrderField,
    #[graphql(default_with = "SortDirection::Asc")]
    direction: SortDirection,
}

#[derive(SimpleObject)]
pub struct TokenStatusCount {
    status: TokenStatus,
    /// Null when nothing was recorded.
    count: Option<i32>,
}

#[derive(SimpleObject)]
pub struct RealmTokenCounts {
    realm: String,
    counts: Vec<TokenStatusCount>,
}

fn realm_counts(realms: Vec<domain::RealmCounts>) -> Vec<RealmTokenCounts> {
    realms
        .into_iter()
        .map(|r| RealmTokenCounts {
            realm: r.realm,
            counts: r
                .counts
                .into_iter()
                .map(|(status, count)| TokenStatusCount {
                    status: status.into(),
                    count: count.map(int),
                })
                .collect(),
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct TokenPeriodReport {
    from: Timestamp,
    to: Timestamp,
    realms: Vec<RealmTokenCounts>,
}

#[derive(SimpleObject)]
pub struct DeletedCount {
    deleted_count: i32,
}

#[derive(InputObject)]
pub struct EnrollTokenInput {
    serial: String,
    #[graphql(default_with = "Some(\"totp\".to_owned())")]
    kind: Option<String>,
    realm: Option<String>,
    user_id: Option<i32>,
    #[graphql(default_with = "Some(true)")]
    active: Option<bool>,
}

/// A user's tokens, for `User.tokens`.
pub async fn user_tokens(
    ctx: &Context<'_>,
    user_id: i32,
    args: crate::service::page::PageArgs,
) -> ApiResult<Inline<TokenConnection>> {
    let services = services(ctx).clone();
    let (page, query) = services
        .tokens
        .user_tokens(actor(ctx), user_id, &args)
        .await?;
    Ok(Inline(token_connection(services, page, query)))
}

fn token_connection(
    services: crate::service::Services,
    page: crate::service::page::Page<domain::Token>,
    query: domain::TokenMatch,
) -> TokenConnection {
    TokenConnection {
        page: page.map(Token),
        total: TotalCount::new(move || {
            let (services, query) = (services.clone(), query.clone());
            async move { services.tokens.count_tokens(&query).await }
        }),
    }
}

#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        realm: Option<String>,
        serial: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<TokenConnection>> {
        let services = services(ctx).clone();
        let args = page_args(first, after, last, before);
        let (page, query) = services
            .tokens
            .tokens(actor(ctx), realm.as_deref(), serial.as_deref(), &args)
            .await?;
        Ok(Inline(token_connection(services, page, query)))
    }

    /// Statuses recorded for a realm (the reporting policy).
    async fn reporting_policy(
        &self,
        ctx: &Context<'_>,
        realm: String,
    ) -> ApiResult<Vec<TokenStatus>> {
        let statuses = services(ctx)
            .tokens
            .reporting_policy(actor(ctx), &realm)
            .await?;
        Ok(statuses.into_iter().map(Into::into).collect())
    }

    /// The recorded counters (LinOTP reporting/show).
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn token_counters(
        &self,
        ctx: &Context<'_>,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
        since: Option<Timestamp>,
        order_by: Option<TokenCounterOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<TokenCounterConnection>> {
        let services = services(ctx).clone();
        let order = order_by
            .map(|o| domain::CounterOrder {
                field: o.field.into(),
                direction: o.direction.into(),
            })
            .unwrap_or_default();
        let args = page_args(first, after, last, before);
        let (page, query) = services
            .tokens
            .counters(
                actor(ctx),
                realms.as_deref(),
                domain_statuses(status).as_deref(),
                since.map(|s| s.0),
                order,
                &args,
            )
            .await?;
        Ok(Inline(TokenCounterConnection {
            page: page.map(TokenCounter),
            total: TotalCount::new(move || {
                let (services, query) = (services.clone(), query.clone());
                async move { services.tokens.count_counters(&query).await }
            }),
        }))
    }

    /// Highest count per realm and status within [from, to) (LinOTP reporting/period).
    async fn token_counts_in_period(
        &self,
        ctx: &Context<'_>,
        from: Option<Day>,
        to: Option<Day>,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
    ) -> ApiResult<TokenPeriodReport> {
        let report = services(ctx)
            .tokens
            .counts_in_period(
                actor(ctx),
                from.map(|d| d.0),
                to.map(|d| d.0),
                realms.as_deref(),
                domain_statuses(status).as_deref(),
            )
            .await?;
        Ok(TokenPeriodReport {
            from: Timestamp(report.from),
            to: Timestamp(report.to),
            realms: realm_counts(report.realms),
        })
    }

    /// Highest count ever recorded per realm and status (LinOTP reporting/maximum).
    async fn token_count_maximum(
        &self,
        ctx: &Context<'_>,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
    ) -> ApiResult<Vec<RealmTokenCounts>> {
        let counts = services(ctx)
            .tokens
            .count_maximum(
                actor(ctx),
                realms.as_deref(),
                domain_statuses(status).as_deref(),
            )
            .await?;
        Ok(realm_counts(counts))
    }

    /// Live counts right now.
    async fn current_token_counts(
        &self,
        ctx: &Context<'_>,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
    ) -> ApiResult<Vec<RealmTokenCounts>> {
        let counts = services(ctx)
            .tokens
            .current_counts(
                actor(ctx),
                realms.as_deref(),
                domain_statuses(status).as_deref(),
            )
            .await?;
        Ok(realm_counts(counts))
    }
}

#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
    async fn enroll_token(&self, ctx: &Context<'_>, input: EnrollTokenInput) -> ApiResult<Token> {
        let new = NewToken {
            serial: input.serial,
            kind: input.kind.unwrap_or_else(|| "totp".to_owned()),
            realm: input.realm,
            user_id: input.user_id,
            active: input.active.unwrap_or(true),
        };
        let token = services(ctx).tokens.enroll(actor(ctx), new).await?;
        Ok(Token(token))
    }

    async fn assign_token(
        &self,
        ctx: &Context<'_>,
        serial: String,
        user_id: i32,
    ) -> ApiResult<Token> {
        let token = services(ctx)
            .tokens
            .assign(actor(ctx), &serial, user_id)
            .await?;
        Ok(Token(token))
    }

    async fn unassign_token(&self, ctx: &Context<'_>, serial: String) -> ApiResult<Token> {
        let token = services(ctx).tokens.unassign(actor(ctx), &serial).await?;
        Ok(Token(token))
    }

    async fn enable_token(&self, ctx: &Context<'_>, serial: String) -> ApiResult<Token> {
        let token = services(ctx)
            .tokens
            .set_active(actor(ctx), &serial, true)
            .await?;
        Ok(Token(token))
    }

    async fn disable_token(&self, ctx: &Context<'_>, serial: String) -> ApiResult<Token> {
        let token = services(ctx)
            .tokens
            .set_active(actor(ctx), &serial, false)
            .await?;
        Ok(Token(token))
    }

    /// realm null moves the token out of every realm.
    async fn set_token_realm(
        &self,
        ctx: &Context<'_>,
        serial: String,
        realm: Option<String>,
    ) -> ApiResult<Token> {
        let token = services(ctx)
            .tokens
            .set_realm(actor(ctx), &serial, realm.as_deref())
            .await?;
        Ok(Token(token))
    }

    async fn remove_token(&self, ctx: &Context<'_>, serial: String) -> ApiResult<Token> {
        let token = services(ctx).tokens.remove(actor(ctx), &serial).await?;
        Ok(Token(token))
    }

    /// realm "*" sets the default for realms without a policy of their own.
    async fn set_reporting_policy(
        &self,
        ctx: &Context<'_>,
        realm: String,
        statuses: Vec<TokenStatus>,
    ) -> ApiResult<Vec<TokenStatus>> {
        let statuses: Vec<domain::TokenStatus> = statuses.into_iter().map(Into::into).collect();
        let recorded = services(ctx)
            .tokens
            .set_reporting_policy(actor(ctx), &realm, &statuses)
            .await?;
        Ok(recorded.into_iter().map(Into::into).collect())
    }

    /// status omitted deletes TOTAL rows only (as LinOTP); allStatuses deletes every status.
    async fn delete_all_token_counters(
        &self,
        ctx: &Context<'_>,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
        #[graphql(default_with = "Some(false)")] all_statuses: Option<bool>,
    ) -> ApiResult<DeletedCount> {
        delete(ctx, realms, status, all_statuses.unwrap_or(false), None).await
    }

    async fn delete_token_counters_before(
        &self,
        ctx: &Context<'_>,
        date: Day,
        realms: Option<Vec<String>>,
        status: Option<Vec<TokenStatus>>,
        #[graphql(default_with = "Some(false)")] all_statuses: Option<bool>,
    ) -> ApiResult<DeletedCount> {
        delete(
            ctx,
            realms,
            status,
            all_statuses.unwrap_or(false),
            Some(date),
        )
        .await
    }
}

async fn delete(
    ctx: &Context<'_>,
    realms: Option<Vec<String>>,
    status: Option<Vec<TokenStatus>>,
    all_statuses: bool,
    before: Option<Day>,
) -> ApiResult<DeletedCount> {
    let status = domain_statuses(status);
    let deleted = services(ctx)
        .tokens
        .delete_counters(
            actor(ctx),
            Deletion {
                realms: realms.as_deref(),
                status: status.as_deref(),
                all_statuses,
                before: before.map(|d| d.0),
            },
        )
        .await?;
    Ok(DeletedCount {
        deleted_count: int(i64::try_from(deleted).unwrap_or(i64::MAX)),
    })
}
