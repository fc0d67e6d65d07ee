//! A report's rows, read straight from the service behind its query: the
//! job's stored arguments are parsed with the query's own GraphQL input
//! types, the service is called as the requester (realm rules and all), and
//! each item becomes the values its GraphQL node has, in the node's field
//! order, written with the same scalar and enum serializers. A report's JSON
//! is therefore exactly what the query's nodes look like (tests/reports.rs
//! compares every kind and format row for row), without the cost of
//! resolving every field of every row through GraphQL execution.
//!
//! A new kind is one [`Kind`] entry: its columns, how its arguments become a
//! service call, and its row.

use async_graphql::{InputType, Pos, ScalarType, Value as GqlValue};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::history::UserChangeType;
use super::ids::GlobalId;
use super::requests::RequestOutcome;
use super::scalars::Timestamp;
use super::tokens::TokenStatus;
use super::users::{UserFilter, UserStatus};
use crate::service::audit::Resource;
use crate::service::audit_events::AuditQuery;
use crate::service::directory::DatasetRole;
use crate::service::history::ChangelogQuery;
use crate::service::page::{Page, PageArgs};
use crate::service::range::RangeArgs;
use crate::service::reports::ReportKind;
use crate::service::requests::RequestQuery;
use crate::service::tokens::CounterOrder;
use crate::service::{self, Principal, Services, filter};

/// One batch of rows.
pub struct Rows {
    /// Each row's values in [`columns`] order.
    pub rows: Vec<Vec<Value>>,
    /// Where the next batch starts; None after the last.
    pub next: Option<String>,
    /// Every row the report will hold, when asked for.
    pub total: Option<i64>,
}

/// Where a batch starts and how large it is.
pub struct Batch<'a> {
    pub after: Option<String>,
    pub size: i32,
    /// Also count every row of the report.
    pub count: bool,
    pub services: &'a Services,
    pub requester: &'a Principal,
    pub params: &'a Value,
}

type Read = for<'a> fn(Batch<'a>) -> BoxFuture<'a, Result<Rows, String>>;

/// One kind of report: its columns (the node's field names) and its reader.
struct Kind {
    columns: &'static [&'static str],
    read: Read,
}

fn kind(report: ReportKind) -> &'static Kind {
    match report {
        ReportKind::UserChangelog => &CHANGELOG,
        ReportKind::UserSnapshot => &SNAPSHOT,
        ReportKind::AuditEvents => &AUDIT_EVENTS,
        ReportKind::TokenCounters => &TOKEN_COUNTERS,
        ReportKind::ApiRequests => &API_REQUESTS,
    }
}

/// The report's columns: the node's field names, in order.
pub fn columns(report: ReportKind) -> &'static [&'static str] {
    kind(report).columns
}

/// One batch of the report's rows.
pub async fn read(report: ReportKind, batch: Batch<'_>) -> Result<Rows, String> {
    (kind(report).read)(batch).await
}

static CHANGELOG: Kind = Kind {
    columns: &[
        "id",
        "date",
        "userId",
        "userEmail",
        "realm",
        "updatedBy",
        "updaterEmail",
        "previouslyEnabled",
        "enabled",
        "previousStatus",
        "status",
        "previousRoles",
        "roles",
        "previousDatasets",
        "datasets",
        "changesMade",
    ],
    read: |b| {
        Box::pin(async move {
            let query = ChangelogQuery {
                start: arg::<Option<Timestamp>>(b.params, "startDate")?.map(|d| d.0),
                end: arg::<Option<Timestamp>>(b.params, "endDate")?.map(|d| d.0),
                filter: arg::<Option<UserFilter>>(b.params, "filter")?
                    .map(filter::UserFilter::from),
                change_types: arg::<Option<Vec<UserChangeType>>>(b.params, "changeTypes")?
                    .map(|t| t.into_iter().map(Into::into).collect()),
                descending: false,
            };
            let history = &b.services.history;
            let (page, matched) = history
                .changelog(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(history.count_changes(&matched)).await?;
            Ok(rows(page, total, |c| {
                vec![
                    Value::String(GlobalId::UserChange(c.id).encode().0),
                    time(c.date),
                    c.user_id.into(),
                    c.user_email.into(),
                    c.realm.into(),
                    Value::Null,
                    c.updater.into(),
                    c.previous_status.map(|s| s.enabled()).into(),
                    c.status.enabled().into(),
                    c.previous_status
                        .map_or(Value::Null, |s| enumeration(UserStatus::from(s))),
                    enumeration(UserStatus::from(c.status)),
                    c.previous_roles.into(),
                    c.roles.into(),
                    datasets(c.previous_datasets),
                    datasets(c.datasets),
                    c.changes_made
                        .into_iter()
                        .map(|t| enumeration(UserChangeType::from(t)))
                        .collect(),
                ]
            }))
        })
    },
};

static SNAPSHOT: Kind = Kind {
    columns: &[
        "asOf",
        "userId",
        "email",
        "name",
        "realm",
        "createdAt",
        "status",
        "enabled",
        "roles",
        "datasets",
    ],
    read: |b| {
        Box::pin(async move {
            let date = arg::<Option<Timestamp>>(b.params, "date")?.map(|d| d.0);
            let filter =
                arg::<Option<UserFilter>>(b.params, "filter")?.map(filter::UserFilter::from);
            let history = &b.services.history;
            let (page, matched) = history
                .snapshots(b.requester, date, filter.as_ref(), &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(history.count_snapshots(&matched)).await?;
            Ok(rows(page, total, |s| {
                vec![
                    time(s.as_of),
                    s.user_id.into(),
                    s.email.into(),
                    s.name.into(),
                    s.realm.into(),
                    time(s.created_at),
                    enumeration(UserStatus::from(s.status)),
                    s.status.enabled().into(),
                    s.roles.into(),
                    datasets(s.datasets),
                ]
            }))
        })
    },
};

static AUDIT_EVENTS: Kind = Kind {
    columns: &[
        "id",
        "date",
        "realm",
        "event",
        "actorId",
        "actor",
        "ipAddress",
        "resources",
    ],
    read: |b| {
        Box::pin(async move {
            let query = AuditQuery {
                range: range(b.params)?,
                realm: arg(b.params, "realm")?,
                all_permitted_realms: arg::<Option<bool>>(b.params, "allPermittedRealms")?
                    .unwrap_or(false),
                events: None,
                actor_ids: None,
            };
            let events = &b.services.audit_events;
            let (page, matched) = events
                .list(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(events.count(&matched)).await?;
            Ok(rows(page, total, |e| {
                vec![
                    Value::String(GlobalId::AuditEvent(e.id).encode().0),
                    time(e.date),
                    e.realm.into(),
                    e.event.into(),
                    e.actor_id.into(),
                    e.actor.into(),
                    e.ip_address.into(),
                    e.resources.into_iter().map(resource).collect(),
                ]
            }))
        })
    },
};

static TOKEN_COUNTERS: Kind = Kind {
    columns: &["id", "date", "event", "realm", "status", "count"],
    read: |b| {
        Box::pin(async move {
            let realms: Option<Vec<String>> = arg(b.params, "realms")?;
            let statuses = arg::<Option<Vec<TokenStatus>>>(b.params, "status")?
                .map(|s| s.into_iter().map(Into::into).collect::<Vec<_>>());
            let since = arg::<Option<Timestamp>>(b.params, "since")?.map(|d| d.0);
            let tokens = &b.services.tokens;
            let (page, matched) = tokens
                .counters(
                    b.requester,
                    realms.as_deref(),
                    statuses.as_deref(),
                    since,
                    CounterOrder::default(),
                    &b.page_args(),
                )
                .await
                .map_err(failed)?;
            let total = b.total(tokens.count_counters(&matched)).await?;
            Ok(rows(page, total, |c| {
                vec![
                    Value::String(GlobalId::TokenCounter(c.id).encode().0),
                    time(c.date),
                    c.event.into(),
                    c.realm.into(),
                    enumeration(TokenStatus::from(c.status)),
                    i32::try_from(c.count).unwrap_or(i32::MAX).into(),
                ]
            }))
        })
    },
};

static API_REQUESTS: Kind = Kind {
    columns: &[
        "id",
        "date",
        "operation",
        "outcome",
        "errorCode",
        "durationMs",
        "tokenName",
        "realm",
        "ipAddress",
    ],
    read: |b| {
        Box::pin(async move {
            let query = RequestQuery {
                range: range(b.params)?,
                success: None,
                operations: None,
            };
            let requests = &b.services.api_requests;
            let (page, matched) = requests
                .list(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(requests.count(&matched)).await?;
            Ok(rows(page, total, |r| {
                let outcome = if r.success {
                    RequestOutcome::Success
                } else {
                    RequestOutcome::Failure
                };
                vec![
                    Value::String(GlobalId::ApiRequest(r.id).encode().0),
                    time(r.date),
                    r.operation.into(),
                    enumeration(outcome),
                    r.error_code.into(),
                    float(r.duration_ms),
                    r.token_name.into(),
                    r.realm.into(),
                    r.ip_address.into(),
                ]
            }))
        })
    },
};

impl Batch<'_> {
    fn page_args(&self) -> PageArgs {
        PageArgs {
            first: Some(self.size),
            after: self.after.clone(),
            last: None,
            before: None,
        }
    }

    /// The report's row count, when this batch asks for it.
    async fn total(
        &self,
        count: impl Future<Output = service::Result<i64>>,
    ) -> Result<Option<i64>, String> {
        if self.count {
            count.await.map(Some).map_err(failed)
        } else {
            Ok(None)
        }
    }
}

fn rows<T>(page: Page<T>, total: Option<i64>, row: impl FnMut(T) -> Vec<Value>) -> Rows {
    let next = if page.has_next {
        page.items.last().map(|(cursor, _)| cursor.clone())
    } else {
        None
    };
    Rows {
        rows: page
            .items
            .into_iter()
            .map(|(_, item)| item)
            .map(row)
            .collect(),
        next,
        total,
    }
}

fn failed(err: service::Error) -> String {
    format!("the report's query failed: {err}")
}

/// A stored argument, read as the query reads it.
fn arg<T: InputType>(params: &Value, name: &str) -> Result<T, String> {
    let unreadable = |message: String| format!("the report's {name} cannot be read: {message}");
    let value = params.get(name).cloned().unwrap_or(Value::Null);
    let value = GqlValue::from_json(value).map_err(|err| unreadable(err.to_string()))?;
    T::parse(Some(value)).map_err(|err| unreadable(err.into_server_error(Pos::default()).message))
}

/// A time range stored as `startDate`/`endDate` (a window was resolved to
/// dates when the report was asked for).
fn range(params: &Value) -> Result<RangeArgs, String> {
    Ok(RangeArgs {
        window: None,
        start: arg::<Option<Timestamp>>(params, "startDate")?.map(|d| d.0),
        end: arg::<Option<Timestamp>>(params, "endDate")?.map(|d| d.0),
    })
}

/// A value as GraphQL writes it in a response.
fn json(value: GqlValue) -> Value {
    value.into_json().unwrap_or(Value::Null)
}

fn time(at: DateTime<Utc>) -> Value {
    json(ScalarType::to_value(&Timestamp(at)))
}

fn enumeration<T: InputType>(value: T) -> Value {
    json(value.to_value())
}

fn float(value: f64) -> Value {
    json(GqlValue::from(value))
}

/// `DatasetRole { datasetId datasetName role }`.
fn datasets(roles: Vec<DatasetRole>) -> Value {
    roles
        .into_iter()
        .map(|d| {
            let mut node = Map::with_capacity(3);
            node.insert("datasetId".into(), d.dataset_id.into());
            node.insert("datasetName".into(), d.dataset_name.into());
            node.insert("role".into(), d.role.into());
            Value::Object(node)
        })
        .collect()
}

/// `AuditResource { type name id }`.
fn resource(r: Resource) -> Value {
    let mut node = Map::with_capacity(3);
    node.insert("type".into(), r.kind.into());
    node.insert("name".into(), r.name.into());
    node.insert("id".into(), r.id.into());
    Value::Object(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_columns() {
        for report in ReportKind::ALL {
            assert!(!columns(report).is_empty());
        }
    }

    #[test]
    fn arguments_parse_as_the_query_reads_them() {
        let params = serde_json::json!({
            "startDate": "2026-01-02T03:04:05Z",
            "changeTypes": ["CREATED", "STATUS"],
        });
        let start: Option<Timestamp> = arg(&params, "startDate").unwrap();
        assert_eq!(start.unwrap().0.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        let types: Option<Vec<UserChangeType>> = arg(&params, "changeTypes").unwrap();
        assert_eq!(types.unwrap().len(), 2);
        let missing: Option<Timestamp> = arg(&params, "endDate").unwrap();
        assert!(missing.is_none());
        let bad = arg::<Option<Vec<UserChangeType>>>(
            &serde_json::json!({"changeTypes": ["NOPE"]}),
            "changeTypes",
        );
        assert!(matches!(bad, Err(message) if message.contains("changeTypes")));
    }
}
