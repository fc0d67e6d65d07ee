//! A report's rows, read straight from the service behind its query: the
//! job's stored arguments are parsed with the query's own GraphQL input
//! types, the service is called as the requester (realm rules and all), and
//! each item is written as the values its GraphQL node has, in the node's
//! field order, with the same scalar formats and enum names, cell by cell
//! into the report's writer. A report's JSON is therefore exactly what the
//! query's nodes look like (tests/reports.rs compares every kind and format
//! row for row), without the cost of resolving every field of every row
//! through GraphQL execution, or a value per cell.
//!
//! A new kind is one [`Kind`] entry: its columns, how its arguments become a
//! service call, and its row; and, if its service can read on with one
//! statement (as `History::walk_changelog` does), a walker.

use std::sync::Arc;

use async_graphql::{EnumType, InputType, Pos, Value as GqlValue};
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{BoxStream, StreamExt, TryChunksError, TryStreamExt};
use sea_orm::DbBackend;
use serde_json::Value;

use super::history::UserChangeType;
use super::ids::GlobalId;
use super::requests::RequestOutcome;
use super::scalars::{Timestamp, TimestampText};
use super::tokens::TokenStatus;
use super::users::{UserFilter, UserStatus};
use crate::jobs::formats::{Cell, Item, Row, Writer};
use crate::service::audit::Resource;
use crate::service::audit_events::{AuditEvent, AuditQuery};
use crate::service::directory::DatasetRole;
use crate::service::directory::Realms;
use crate::service::directory::state::DatasetRoleRef;
use crate::service::history::{ChangelogQuery, StoredChange};
use crate::service::page::{Page, PageArgs};
use crate::service::range::RangeArgs;
use crate::service::reports::ReportKind;
use crate::service::requests::{ApiRequest, RequestQuery};
use crate::service::tokens::CounterOrder;
use crate::service::{self, Principal, Services, filter};

/// One batch of rows, read and not yet written.
pub struct Fetched {
    pub rows: usize,
    /// Where the next batch starts; None after the last.
    pub next: Option<String>,
    /// Every row the report will hold, when asked for.
    pub total: Option<i64>,
    write: Box<dyn FnOnce(&mut Writer) + Send>,
}

impl Fetched {
    /// Writes the rows, one after another.
    pub fn write(self, out: &mut Writer) {
        (self.write)(out)
    }

    /// No rows, after the last batch a walk read.
    pub fn end(total: Option<i64>) -> Self {
        Self {
            rows: 0,
            next: None,
            total,
            write: Box::new(|_| {}),
        }
    }
}

/// A report's row count, coming.
pub type Counting = BoxFuture<'static, Result<i64, String>>;

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

type Read = for<'a> fn(Batch<'a>) -> BoxFuture<'a, Result<Fetched, String>>;

/// Reads on from the batch's start with one statement, at most the given
/// number of rows, in batches of the batch's size.
pub type Walk = for<'a> fn(Batch<'a>, u64) -> BoxFuture<'a, Result<Walked, String>>;

/// One kind of report: its columns (the node's field names), its reader,
/// and, when its service can read on with one statement, its walker.
struct Kind {
    columns: &'static [&'static str],
    read: Read,
    walk: Option<Walk>,
}

/// The batches of one statement (a [`Walk`]).
pub struct Walked {
    /// Every row the report will hold, when asked for: counted by a task
    /// of its own, beside the statement's first rows.
    pub total: Option<Counting>,
    /// Each batch with the cursor of its last row as `next` (the statement
    /// may have stopped at its limit), as its rows arrive.
    pub batches: BoxStream<'static, Result<Fetched, String>>,
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

/// Reads one batch of the report's rows.
pub async fn read(report: ReportKind, batch: Batch<'_>) -> Result<Fetched, String> {
    (kind(report).read)(batch).await
}

/// The report's walker, when its rows are better read with one statement
/// for many batches than a batch at a time with [`read`]: where its kind
/// has one and the database is a server that streams rows as it produces
/// them (PostgreSQL and MySQL: it reads on while the batch before is
/// handled, where a query per batch left it idle between them). SQLite
/// keeps a query per batch: there is no server to keep busy, and the
/// changelog's batch is one value the database builds (`page::Columns`),
/// faster than its rows one by one.
pub fn walker(report: ReportKind, services: &Services) -> Option<Walk> {
    kind(report)
        .walk
        .filter(|_| services.db.backend() != DbBackend::Sqlite)
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
            let query = changelog_query(b.params)?;
            let history = &b.services.history;
            let (changes, matched) = history
                .stored_changelog(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(history.count_changes(&matched)).await?;
            let realms = changes.realms;
            Ok(fetched(changes.page, total, move |row, c| {
                changelog_row(&realms, row, c)
            }))
        })
    },
    walk: Some(|b, limit| {
        Box::pin(async move {
            let query = changelog_query(b.params)?;
            let history = &b.services.history;
            let (changes, realms, matched) = history
                .walk_changelog(b.requester, &query, b.after.as_deref(), limit)
                .await
                .map_err(failed)?;
            let total = b.count_aside(move |services| async move {
                services.history.count_changes(&matched).await
            });
            Ok(walked(
                changes,
                b.size,
                total,
                StoredChange::cursor,
                move |row, c| changelog_row(&realms, row, c),
            ))
        })
    }),
};

/// `userChangelog`'s arguments.
fn changelog_query(params: &Value) -> Result<ChangelogQuery, String> {
    Ok(ChangelogQuery {
        start: arg::<Option<Timestamp>>(params, "startDate")?.map(|d| d.0),
        end: arg::<Option<Timestamp>>(params, "endDate")?.map(|d| d.0),
        filter: arg::<Option<UserFilter>>(params, "filter")?.map(filter::UserFilter::from),
        change_types: arg::<Option<Vec<UserChangeType>>>(params, "changeTypes")?
            .map(|t| t.into_iter().map(Into::into).collect()),
        descending: false,
    })
}

/// A `UserChange` node.
fn changelog_row(realms: &Realms, row: &mut Row<'_>, c: &StoredChange) {
    let (previous_status, status) = (c.previous_status(), c.status());
    row.cell(GlobalId::UserChange(c.id).encoded().as_str());
    row.cell(time(c.date()).as_str());
    row.cell(c.user_id);
    row.cell(c.user_email());
    row.cell(c.realm(realms));
    row.cell(Cell::Null);
    row.cell(c.updater());
    row.cell(previous_status.map(|s| s.enabled()));
    row.cell(status.enabled());
    row.cell(previous_status.map(|s| name(UserStatus::from(s))));
    row.cell(name(UserStatus::from(status)));
    row.list(texts(&c.previous_roles()));
    row.list(texts(&c.roles()));
    row.list(c.previous_datasets().iter().map(dataset_ref));
    row.list(c.datasets().iter().map(dataset_ref));
    row.list(
        c.changes_made()
            .map(|t| Item::Text(name(UserChangeType::from(t)))),
    );
}

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
            Ok(fetched(page, total, |row, s| {
                row.cell(time(s.as_of).as_str());
                row.cell(s.user_id);
                row.cell(&s.email);
                row.cell(&s.name);
                row.cell(&s.realm);
                row.cell(time(s.created_at).as_str());
                row.cell(name(UserStatus::from(s.status)));
                row.cell(s.status.enabled());
                row.list(texts(&s.roles));
                row.list(s.datasets.iter().map(dataset));
            }))
        })
    },
    walk: None,
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
            let query = audit_query(b.params)?;
            let events = &b.services.audit_events;
            let (page, matched) = events
                .list(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(events.count(&matched)).await?;
            Ok(fetched(page, total, audit_row))
        })
    },
    walk: Some(|b, limit| {
        Box::pin(async move {
            let query = audit_query(b.params)?;
            let (events, matched) = b
                .services
                .audit_events
                .walk(b.requester, &query, b.after.as_deref(), limit)
                .await
                .map_err(failed)?;
            let total = b.count_aside(move |services| async move {
                services.audit_events.count(&matched).await
            });
            Ok(walked(events, b.size, total, AuditEvent::cursor, audit_row))
        })
    }),
};

/// `auditEvents`' arguments (the window fixed when the report was asked
/// for).
fn audit_query(params: &Value) -> Result<AuditQuery, String> {
    Ok(AuditQuery {
        range: range(params)?,
        realm: arg(params, "realm")?,
        all_permitted_realms: arg::<Option<bool>>(params, "allPermittedRealms")?.unwrap_or(false),
        events: None,
        actor_ids: None,
    })
}

/// An `AuditEvent` node.
fn audit_row(row: &mut Row<'_>, e: &AuditEvent) {
    row.cell(GlobalId::AuditEvent(e.id).encoded().as_str());
    row.cell(time(e.date).as_str());
    row.cell(e.realm.as_deref());
    row.cell(&e.event);
    row.cell(e.actor_id);
    row.cell(e.actor.as_deref());
    row.cell(e.ip_address.as_deref());
    row.list(e.resources.iter().map(resource));
}

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
            Ok(fetched(page, total, |row, c| {
                row.cell(GlobalId::TokenCounter(c.id).encoded().as_str());
                row.cell(time(c.date).as_str());
                row.cell(&c.event);
                row.cell(&c.realm);
                row.cell(name(TokenStatus::from(c.status)));
                row.cell(i32::try_from(c.count).unwrap_or(i32::MAX));
            }))
        })
    },
    walk: None,
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
            let query = request_query(b.params)?;
            let requests = &b.services.api_requests;
            let (page, matched) = requests
                .list(b.requester, &query, &b.page_args())
                .await
                .map_err(failed)?;
            let total = b.total(requests.count(&matched)).await?;
            Ok(fetched(page, total, request_row))
        })
    },
    walk: Some(|b, limit| {
        Box::pin(async move {
            let query = request_query(b.params)?;
            let (requests, matched) = b
                .services
                .api_requests
                .walk(b.requester, &query, b.after.as_deref(), limit)
                .await
                .map_err(failed)?;
            let total = b.count_aside(move |services| async move {
                services.api_requests.count(&matched).await
            });
            Ok(walked(
                requests,
                b.size,
                total,
                ApiRequest::cursor,
                request_row,
            ))
        })
    }),
};

/// `apiRequests`' arguments.
fn request_query(params: &Value) -> Result<RequestQuery, String> {
    Ok(RequestQuery {
        range: range(params)?,
        success: None,
        operations: None,
    })
}

/// An `ApiRequest` node.
fn request_row(row: &mut Row<'_>, r: &ApiRequest) {
    let outcome = if r.success {
        RequestOutcome::Success
    } else {
        RequestOutcome::Failure
    };
    row.cell(GlobalId::ApiRequest(r.id).encoded().as_str());
    row.cell(time(r.date).as_str());
    row.cell(&r.operation);
    row.cell(name(outcome));
    row.cell(r.error_code.as_deref());
    row.cell(r.duration_ms);
    row.cell(r.token_name.as_deref());
    row.cell(r.realm.as_deref());
    row.cell(r.ip_address.as_deref());
}

impl Batch<'_> {
    fn page_args(&self) -> PageArgs {
        PageArgs {
            first: Some(self.size),
            after: self.after.clone(),
            last: None,
            before: None,
        }
    }

    /// The report's row count, when this batch asks for it, counted by a
    /// task of its own (on a connection of its own) while the rows are
    /// read.
    fn count_aside<F>(&self, count: impl FnOnce(Services) -> F) -> Option<Counting>
    where
        F: Future<Output = service::Result<i64>> + Send + 'static,
    {
        self.count.then(|| {
            let mut task = Aborting(tokio::spawn(count(self.services.clone())));
            async move {
                match (&mut task.0).await {
                    Ok(counted) => counted.map_err(failed),
                    Err(err) => Err(format!("counting the report's rows failed: {err}")),
                }
            }
            .boxed()
        })
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

/// A page read, each item to be written as one row by `write`.
fn fetched<T: Send + 'static>(
    mut page: Page<T>,
    total: Option<i64>,
    write: impl Fn(&mut Row<'_>, &T) + Send + 'static,
) -> Fetched {
    let next = if page.has_next {
        page.items
            .last_mut()
            .map(|(cursor, _)| std::mem::take(cursor))
    } else {
        None
    };
    Fetched {
        rows: page.items.len(),
        next,
        total,
        write: Box::new(move |out| {
            for (_, item) in &page.items {
                out.row(|row| write(row, item));
            }
        }),
    }
}

/// A task stopped when its handle is dropped (a count nobody waits for).
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A walk's rows in batches of `size`, each written by `write`.
fn walked<T: Send + Sync + 'static>(
    rows: BoxStream<'static, service::Result<T>>,
    size: i32,
    total: Option<Counting>,
    cursor: fn(&T) -> String,
    write: impl Fn(&mut Row<'_>, &T) + Send + Sync + 'static,
) -> Walked {
    let write = Arc::new(write);
    let batches = rows
        .try_chunks(size.max(1) as usize)
        .map(move |chunk| {
            let items = chunk.map_err(|TryChunksError(_, err)| failed(err))?;
            let write = write.clone();
            Ok(Fetched {
                rows: items.len(),
                next: items.last().map(cursor),
                total: None,
                write: Box::new(move |out| {
                    for item in &items {
                        out.row(|row| write(row, item));
                    }
                }),
            })
        })
        .boxed();
    Walked { total, batches }
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

/// A `DateTime` as the scalar writes it.
fn time(at: DateTime<Utc>) -> TimestampText {
    Timestamp(at).rfc3339_text()
}

/// An enum value's GraphQL name.
fn name<T: EnumType>(value: T) -> &'static str {
    T::items()
        .iter()
        .find(|item| item.value == value)
        .map_or("", |item| item.name)
}

fn texts<T: AsRef<str>>(list: &[T]) -> impl Iterator<Item = Item<'_>> {
    list.iter().map(|text| Item::Text(text.as_ref()))
}

/// `DatasetRole { datasetId datasetName role }`.
fn dataset(d: &DatasetRole) -> Item<'_> {
    dataset_item(d.dataset_id, &d.dataset_name, &d.role)
}

fn dataset_ref<'a>(d: &'a DatasetRoleRef<'_>) -> Item<'a> {
    dataset_item(d.dataset_id, &d.dataset_name, &d.role)
}

fn dataset_item<'a>(id: i32, name: &'a str, role: &'a str) -> Item<'a> {
    Item::Object {
        fields: [
            ("datasetId", id.into()),
            ("datasetName", Cell::Text(name)),
            ("role", Cell::Text(role)),
        ],
        label: (name, role),
    }
}

/// `AuditResource { type name id }`.
fn resource(r: &Resource) -> Item<'_> {
    Item::Object {
        fields: [
            ("type", Cell::Text(&r.kind)),
            ("name", Cell::Text(&r.name)),
            ("id", r.id.as_deref().into()),
        ],
        label: (&r.kind, &r.name),
    }
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
