//! The GraphQL adapter: types mirror contract.graphql, resolvers stay thin and
//! call the services with the request's caller.

mod access;
mod activity;
mod connection;
mod documents;
mod error;
mod history;
mod ids;
mod inline;
mod insights;
mod live;
mod loaders;
mod node;
mod product_events;
mod realms;
pub mod report_rows;
mod reports;
mod requests;
mod scalars;
mod tokens;
mod user_metrics;
mod users;

use async_graphql::{Context, Data, MergedObject, Schema};

pub use documents::{Attached, Documents, is_request_error};
pub use error::{coded, finish};
pub use scalars::parse_datetime;

use crate::config::Limits;
use crate::service::{Principal, Services};

#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    access::AccessQuery,
    realms::RealmQuery,
    users::UserQuery,
    user_metrics::UserMetricsQuery,
    activity::ActivityQuery,
    requests::RequestQueryRoot,
    reports::ReportQuery,
    insights::InsightsQuery,
    tokens::TokenQuery,
    product_events::ProductEventQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    access::AccessMutation,
    realms::RealmMutation,
    users::UserMutation,
    reports::ReportMutation,
    tokens::TokenMutation,
    product_events::ProductEventMutation,
    insights::InsightsMutation,
);

pub use live::Subscription;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .register_output_type::<node::Node>()
        .register_output_type::<scalars::Json>()
        .register_output_type::<scalars::Day>()
}

fn executable(
    services: Services,
    limits: &Limits,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    builder()
        .data(services)
        .limit_depth(limits.depth_limit)
        .limit_complexity(limits.complexity_limit)
}

/// The executable schema, with its limits.
pub fn build_schema(services: Services, limits: &Limits) -> AppSchema {
    executable(services, limits).finish()
}

/// The same schema under async-graphql's fast validation mode (limits and
/// fragment cycles only), for documents known to pass the strict rules
/// ([`Documents`]).
pub fn build_prevalidated_schema(services: Services, limits: &Limits) -> AppSchema {
    executable(services, limits)
        .validation_mode(async_graphql::ValidationMode::Fast)
        .finish()
}

/// The job id inside a report job's global id.
pub fn report_job_id(id: &str) -> Option<i64> {
    match ids::GlobalId::decode(id, "id") {
        Ok(ids::GlobalId::ReportJob(id)) => Some(id),
        _ => None,
    }
}

/// The schema's SDL; `schema.graphql` is exactly this.
pub fn schema_sdl() -> String {
    builder().finish().sdl()
}

/// Attaches the caller and the per-request loaders to a request.
pub fn prepare(
    request: async_graphql::Request,
    services: &Services,
    actor: Principal,
) -> async_graphql::Request {
    let users = loaders::for_request(services, &actor);
    request.data(actor).data(users)
}

/// The number behind a report job's global id (for the command line,
/// which reads the job through the services).
pub fn report_job_number(id: &str) -> Option<i64> {
    match ids::GlobalId::decode(id, "id") {
        Ok(ids::GlobalId::ReportJob(number)) => Some(number),
        _ => None,
    }
}

/// The caller and the loaders, for every operation of one WebSocket
/// connection (authenticated in its `connection_init`).
pub fn connection_data(services: &Services, actor: Principal) -> Data {
    let mut data = Data::default();
    data.insert(loaders::for_request(services, &actor));
    data.insert(actor);
    data
}

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// The caller, put in every request by the HTTP layer after authentication.
fn actor<'a>(ctx: &Context<'a>) -> &'a Principal {
    ctx.data_unchecked::<Principal>()
}
