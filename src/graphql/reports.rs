//! Report jobs as GraphQL: queue a report, follow it, cancel it.
//!
//! A report's arguments are checked when it is asked for, by reading the
//! first row of its query as the requester: bad input is an error naming the
//! `input.` field and no job is stored. Defaults that move with time (the
//! snapshot's date, the changelog's end) are fixed at that moment, so the
//! file holds what the query answered when the report was asked for.

use async_graphql::{Context, Enum, ID, InputObject, InputType, Object};
use serde_json::{Map, Value};

use super::connection::{TotalCount, connection, cost, page_args};
use super::error::ApiResult;
use super::history::UserChangeType;
use super::ids::GlobalId;
use super::scalars::Timestamp;
use super::tokens::{TokenStatus, domain_statuses};
use super::users::UserFilter;
use super::{actor, services};
use crate::service::audit_events::AuditQuery;
use crate::service::history::ChangelogQuery;
use crate::service::page::PageArgs;
use crate::service::range::RangeArgs;
use crate::service::reports::{self as domain, NewReport};
use crate::service::requests::RequestQuery;
use crate::service::tokens::CounterOrder;
use crate::service::{Error, filter};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::reports::ReportFormat")]
pub enum ReportFormat {
    Csv,
    Json,
    Ndjson,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::reports::ReportKind")]
pub enum ReportKind {
    UserChangelog,
    UserSnapshot,
    AuditEvents,
    TokenCounters,
    ApiRequests,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::reports::JobStatus")]
pub enum JobStatus {
    Pending,
    Started,
    Success,
    Failure,
    Cancelled,
}

pub struct ReportJob(pub domain::ReportJob);

#[Object]
impl ReportJob {
    pub async fn id(&self) -> ID {
        GlobalId::ReportJob(self.0.id).encode()
    }
    async fn kind(&self) -> ReportKind {
        self.0.kind.into()
    }
    async fn format(&self) -> ReportFormat {
        self.0.format.into()
    }
    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }
    /// True once the file can be downloaded.
    async fn ready(&self, ctx: &Context<'_>) -> bool {
        self.0.ready(services(ctx).clock.now())
    }
    /// 0.0 to 1.0 while STARTED.
    async fn progress(&self) -> Option<f64> {
        self.0.progress
    }
    async fn row_count(&self) -> Option<i64> {
        self.0.row_count
    }
    async fn byte_size(&self) -> Option<i64> {
        self.0.byte_size
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn requested_by(&self) -> &str {
        &self.0.requester.name
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
    async fn started_at(&self) -> Option<Timestamp> {
        self.0.started_at.map(Timestamp)
    }
    async fn finished_at(&self) -> Option<Timestamp> {
        self.0.finished_at.map(Timestamp)
    }
    async fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at.map(Timestamp)
    }
    /// A URL that downloads the file without further headers until it expires.
    async fn download_url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let services = services(ctx);
        let job = &self.0;
        let (true, Some(expires)) = (job.ready(services.clock.now()), job.expires_at) else {
            return Ok(None);
        };
        let signature = services.reports.sign(job.id, expires).await?;
        Ok(Some(format!(
            "{}/reports/{}/download?expires={}&signature={}",
            services.reports.settings().public_url.trim_end_matches('/'),
            job.id,
            signature.expires,
            signature.value
        )))
    }
}

connection!(ReportJobConnection, ReportJobEdge, ReportJob);

#[derive(InputObject)]
pub struct ChangelogReportInput {
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    filter: Option<UserFilter>,
    change_types: Option<Vec<UserChangeType>>,
    #[graphql(default_with = "Some(ReportFormat::Csv)")]
    format: Option<ReportFormat>,
}

#[derive(InputObject)]
pub struct SnapshotReportInput {
    date: Option<Timestamp>,
    filter: Option<UserFilter>,
    #[graphql(default_with = "Some(ReportFormat::Csv)")]
    format: Option<ReportFormat>,
}

#[derive(InputObject)]
pub struct TokenCounterReportInput {
    realms: Option<Vec<String>>,
    status: Option<Vec<TokenStatus>>,
    since: Option<Timestamp>,
    #[graphql(default_with = "Some(ReportFormat::Csv)")]
    format: Option<ReportFormat>,
}

#[derive(InputObject)]
pub struct AuditReportInput {
    window: Option<String>,
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    realm: Option<String>,
    #[graphql(default_with = "Some(false)")]
    all_permitted_realms: Option<bool>,
    #[graphql(default_with = "Some(ReportFormat::Csv)")]
    format: Option<ReportFormat>,
}

#[derive(InputObject)]
pub struct ApiRequestReportInput {
    window: Option<String>,
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    #[graphql(default_with = "Some(ReportFormat::Csv)")]
    format: Option<ReportFormat>,
}

/// The query's variables, as the job stores them.
fn variables<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn json_of<T: InputType>(value: &T) -> Option<Value> {
    value.to_value().into_json().ok()
}

/// A report input's field errors name the field inside `input`.
fn in_input(err: Error) -> Error {
    match err {
        Error::BadInput { field, message } => Error::BadInput {
            field: format!("input.{field}"),
            message,
        },
        other => other,
    }
}

/// Stores the job (its arguments checked already) as the caller's.
async fn queue(
    ctx: &Context<'_>,
    kind: domain::ReportKind,
    format: Option<ReportFormat>,
    params: Value,
) -> ApiResult<ReportJob> {
    let report = NewReport {
        kind,
        format: format.unwrap_or(ReportFormat::Csv).into(),
        params,
    };
    Ok(ReportJob(
        services(ctx).reports.create(actor(ctx), report).await?,
    ))
}

/// Reading one row checks the arguments as the query would.
fn probe() -> PageArgs {
    PageArgs {
        first: Some(1),
        ..PageArgs::default()
    }
}

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// A report job by id; null when missing or out of the token's reach.
    async fn report_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ReportJob>> {
        let services = services(ctx);
        let actor = actor(ctx);
        services.reports.check_view(actor)?;
        let GlobalId::ReportJob(id) = GlobalId::decode(&id, "id")? else {
            return Ok(None);
        };
        Ok(services.reports.get(actor, id).await?.map(ReportJob))
    }

    /// Report jobs the token may see, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn report_jobs(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<JobStatus>>,
        kind: Option<Vec<ReportKind>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ReportJobConnection> {
        let services = services(ctx).clone();
        let statuses: Option<Vec<domain::JobStatus>> =
            status.map(|s| s.into_iter().map(Into::into).collect());
        let kinds: Option<Vec<domain::ReportKind>> =
            kind.map(|k| k.into_iter().map(Into::into).collect());
        let (page, condition) = services
            .reports
            .list(
                actor(ctx),
                statuses.as_deref(),
                kinds.as_deref(),
                &page_args(first, after, last, before),
            )
            .await?;
        Ok(ReportJobConnection {
            page: page.map(ReportJob),
            total: TotalCount::new(move || {
                let (services, condition) = (services.clone(), condition.clone());
                async move { services.reports.count(condition).await }
            }),
        })
    }
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// Queues a changelog report (the rows of `userChangelog` with the same
    /// arguments, oldest first). Without `endDate` it ends when asked for.
    async fn generate_changelog_report(
        &self,
        ctx: &Context<'_>,
        input: ChangelogReportInput,
    ) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        let kind = domain::ReportKind::UserChangelog;
        services.reports.check_request(actor, kind)?;
        let end = input.end_date.unwrap_or(Timestamp(services.clock.now()));
        let query = ChangelogQuery {
            start: input.start_date.map(|d| d.0),
            end: Some(end.0),
            filter: input.filter.clone().map(filter::UserFilter::from),
            change_types: input
                .change_types
                .clone()
                .map(|t| t.into_iter().map(Into::into).collect()),
            descending: false,
        };
        services
            .history
            .changelog(actor, &query, &probe())
            .await
            .map_err(in_input)?;
        let params = variables([
            ("startDate", input.start_date.as_ref().and_then(json_of)),
            ("endDate", json_of(&end)),
            ("filter", input.filter.as_ref().and_then(json_of)),
            ("changeTypes", input.change_types.as_ref().and_then(json_of)),
        ]);
        queue(ctx, kind, input.format, params).await
    }

    /// Queues a snapshot report (the rows of `userSnapshots` with the same
    /// arguments). Without `date`, as of when it is asked for.
    async fn generate_snapshot_report(
        &self,
        ctx: &Context<'_>,
        input: SnapshotReportInput,
    ) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        let kind = domain::ReportKind::UserSnapshot;
        services.reports.check_request(actor, kind)?;
        let date = input.date.unwrap_or(Timestamp(services.clock.now()));
        let filter = input.filter.clone().map(filter::UserFilter::from);
        services
            .history
            .snapshots(actor, Some(date.0), filter.as_ref(), &probe())
            .await
            .map_err(in_input)?;
        let params = variables([
            ("date", json_of(&date)),
            ("filter", input.filter.as_ref().and_then(json_of)),
        ]);
        queue(ctx, kind, input.format, params).await
    }

    /// Queues a token counter report (the rows of `tokenCounters` with the
    /// same arguments, oldest first): what LinOTP's reporting/show lists.
    async fn generate_token_counter_report(
        &self,
        ctx: &Context<'_>,
        input: TokenCounterReportInput,
    ) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        let kind = domain::ReportKind::TokenCounters;
        services.reports.check_request(actor, kind)?;
        services
            .tokens
            .counters(
                actor,
                input.realms.as_deref(),
                domain_statuses(input.status.clone()).as_deref(),
                input.since.map(|s| s.0),
                CounterOrder::default(),
                &probe(),
            )
            .await
            .map_err(in_input)?;
        let params = variables([
            ("realms", input.realms.as_ref().and_then(json_of)),
            ("status", input.status.as_ref().and_then(json_of)),
            ("since", input.since.as_ref().and_then(json_of)),
        ]);
        queue(ctx, kind, input.format, params).await
    }

    /// Queues an activity log report (the rows of `auditEvents` with the
    /// same arguments, newest first). A `window` is resolved to dates when
    /// the report is asked for, so the file holds that range whenever it runs.
    async fn generate_audit_report(
        &self,
        ctx: &Context<'_>,
        input: AuditReportInput,
    ) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        let kind = domain::ReportKind::AuditEvents;
        services.reports.check_request(actor, kind)?;
        let all_permitted_realms = input.all_permitted_realms.unwrap_or(false);
        let query = AuditQuery {
            range: RangeArgs {
                window: input.window,
                start: input.start_date.map(|d| d.0),
                end: input.end_date.map(|d| d.0),
            },
            realm: input.realm.clone(),
            all_permitted_realms,
            events: None,
            actor_ids: None,
        };
        let (_, matched) = services
            .audit_events
            .list(actor, &query, &probe())
            .await
            .map_err(in_input)?;
        let params = variables([
            ("startDate", json_of(&Timestamp(matched.range.start))),
            ("endDate", json_of(&Timestamp(matched.range.end))),
            ("realm", input.realm.map(Value::String)),
            (
                "allPermittedRealms",
                Some(Value::Bool(all_permitted_realms)),
            ),
        ]);
        queue(ctx, kind, input.format, params).await
    }

    /// Queues an API request log report (the rows of `apiRequests` with the
    /// same range, oldest first); a `window` is resolved when asked for.
    async fn generate_api_request_report(
        &self,
        ctx: &Context<'_>,
        input: ApiRequestReportInput,
    ) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        let kind = domain::ReportKind::ApiRequests;
        services.reports.check_request(actor, kind)?;
        let query = RequestQuery {
            range: RangeArgs {
                window: input.window,
                start: input.start_date.map(|d| d.0),
                end: input.end_date.map(|d| d.0),
            },
            ..RequestQuery::default()
        };
        let (_, matched) = services
            .api_requests
            .list(actor, &query, &probe())
            .await
            .map_err(in_input)?;
        let params = variables([
            ("startDate", json_of(&Timestamp(matched.range.start))),
            ("endDate", json_of(&Timestamp(matched.range.end))),
        ]);
        queue(ctx, kind, input.format, params).await
    }

    /// Cancels a job that has not finished (a finished one is a CONFLICT).
    async fn cancel_report_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ReportJob> {
        let (services, actor) = (services(ctx), actor(ctx));
        services.reports.check_view(actor)?;
        let missing = || Error::not_found(format!("no report job with id {}", id.as_str()));
        let GlobalId::ReportJob(job) = GlobalId::decode(&id, "id")? else {
            return Err(missing().into());
        };
        Ok(ReportJob(
            services
                .reports
                .cancel(actor, job)
                .await
                .map_err(|err| match err {
                    Error::NotFound(_) => missing(),
                    other => other,
                })?,
        ))
    }
}
