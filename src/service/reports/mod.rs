//! Report jobs: stored as PENDING when asked for, run by a worker that holds
//! a renewable lease (`leases`), their files signed for download (`signing`).
//!
//! A job remembers the requester's scopes and realms: the worker reads with
//! exactly those, and a token sees the job only when it may see every realm
//! the requester could (otherwise the job answers like a missing one).

mod counts;
mod leases;
mod signing;
mod state;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::report_job;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, Set,
};
use tokio::sync::{Notify, OnceCell};

pub use leases::Claimed;
pub use signing::Signature;
pub use state::JobState;

use super::audit::{self, NewEvent, Resource};
use super::page::{self, KeyPart, Keyset, Page, PageArgs};
use super::{Error, Principal, RealmAccess, Result, Scope, Scopes};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::events::{self, Change};
use crate::time::{from_micros, to_micros};

/// What a report lists. Each kind is read by the query of the same rows, so
/// the requester needs that query's scope too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    UserChangelog,
    UserSnapshot,
    AuditEvents,
    TokenCounters,
    ApiRequests,
}

impl ReportKind {
    pub const ALL: [ReportKind; 5] = [
        ReportKind::UserChangelog,
        ReportKind::UserSnapshot,
        ReportKind::AuditEvents,
        ReportKind::TokenCounters,
        ReportKind::ApiRequests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::UserChangelog => "USER_CHANGELOG",
            ReportKind::UserSnapshot => "USER_SNAPSHOT",
            ReportKind::AuditEvents => "AUDIT_EVENTS",
            ReportKind::TokenCounters => "TOKEN_COUNTERS",
            ReportKind::ApiRequests => "API_REQUESTS",
        }
    }

    /// The scope of the query whose rows the report holds.
    pub fn read_scope(self) -> Scope {
        match self {
            ReportKind::UserChangelog => Scope::ChangelogRead,
            ReportKind::UserSnapshot => Scope::UsersRead,
            ReportKind::AuditEvents => Scope::AuditRead,
            ReportKind::TokenCounters => Scope::CountersShow,
            ReportKind::ApiRequests => Scope::AuditRead,
        }
    }

    /// The start of a file name (`user-changelog-42.csv`).
    pub fn file_stem(self) -> &'static str {
        match self {
            ReportKind::UserChangelog => "user-changelog",
            ReportKind::UserSnapshot => "user-snapshot",
            ReportKind::AuditEvents => "audit-events",
            ReportKind::TokenCounters => "token-counters",
            ReportKind::ApiRequests => "api-requests",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored report kind '{s}'")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Json,
    Ndjson,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 3] =
        [ReportFormat::Csv, ReportFormat::Json, ReportFormat::Ndjson];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Csv => "CSV",
            ReportFormat::Json => "JSON",
            ReportFormat::Ndjson => "NDJSON",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Ndjson => "ndjson",
        }
    }

    /// RFC 4180 (`header=present`), RFC 8259, and NDJSON's registered type.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => "text/csv; charset=utf-8; header=present",
            ReportFormat::Json => "application/json",
            ReportFormat::Ndjson => "application/x-ndjson",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored report format '{s}'")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Pending,
    Started,
    Success,
    Failure,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Started,
        JobStatus::Success,
        JobStatus::Failure,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Started => "STARTED",
            JobStatus::Success => "SUCCESS",
            JobStatus::Failure => "FAILURE",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Failure | JobStatus::Cancelled
        )
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored job status '{s}'")))
    }
}

/// A job as its requester sees it.
#[derive(Debug, Clone)]
pub struct ReportJob {
    pub id: i64,
    pub kind: ReportKind,
    pub format: ReportFormat,
    pub status: JobStatus,
    /// The report's arguments (the variables of the query that reads it).
    pub params: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub progress: Option<f64>,
    pub row_count: Option<i64>,
    /// Claims so far: a worker that lost its lease leaves the job to another
    /// attempt.
    pub attempts: i32,
    pub byte_size: Option<i64>,
    pub error: Option<String>,
    /// Where the finished file is stored (None before and once expired).
    pub object_key: Option<String>,
    /// Who asked (its name is `requestedBy`), with the scopes and realms it
    /// had then.
    pub requester: Principal,
}

impl ReportJob {
    fn from_model(m: report_job::Model) -> Result<Self> {
        Ok(Self {
            id: m.id,
            kind: ReportKind::parse(&m.kind)?,
            format: ReportFormat::parse(&m.format)?,
            status: JobStatus::parse(&m.status)?,
            params: serde_json::from_str(&m.params)
                .map_err(|err| Error::Internal(anyhow::anyhow!("stored report params: {err}")))?,
            created_at: from_micros(m.created_at),
            started_at: m.started_at.map(from_micros),
            finished_at: m.finished_at.map(from_micros),
            expires_at: m.expires_at.map(from_micros),
            progress: m.progress,
            row_count: m.row_count,
            attempts: m.attempts,
            byte_size: m.byte_size,
            error: m.error,
            object_key: m.object_key,
            requester: Principal {
                token_id: m.requester_id,
                name: m.requested_by,
                scopes: Scopes::decode(&m.scopes),
                realms: RealmAccess::decode(m.realms.as_deref()),
                ip_address: None,
            },
        })
    }

    /// The file can be downloaded now.
    pub fn ready(&self, now: DateTime<Utc>) -> bool {
        self.status == JobStatus::Success
            && self.object_key.is_some()
            && self.expires_at.is_none_or(|at| at > now)
    }

    /// The name a download is saved under.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.{}",
            self.kind.file_stem(),
            self.id,
            self.format.extension()
        )
    }
}

/// How reports behave; from the command line.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Unfinished jobs one token may have at once.
    pub max_unfinished: u64,
    /// How long a finished file is kept.
    pub retention: chrono::Duration,
    /// How long a worker's claim lasts without renewal.
    pub lease: chrono::Duration,
    /// Where clients reach this server (signed download URLs start with it).
    pub public_url: String,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            max_unfinished: 10,
            retention: chrono::Duration::days(7),
            lease: chrono::Duration::seconds(60),
            public_url: "http://127.0.0.1:8080".to_owned(),
        }
    }
}

/// A report to queue.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub kind: ReportKind,
    pub format: ReportFormat,
    pub params: serde_json::Value,
}

/// Report jobs: queue, look up, cancel (for callers); claim, renew, finish
/// (for workers).
#[derive(Clone)]
pub struct Reports {
    db: Db,
    clock: SharedClock,
    settings: Arc<ReportSettings>,
    /// Woken when a job is queued here, so an idle worker starts at once.
    queued: Arc<Notify>,
    /// The URL signing key, read once.
    key: Arc<OnceCell<Vec<u8>>>,
}

/// A job's audit resource.
fn resource(job: &ReportJob) -> Resource {
    Resource::new("report", job.kind.as_str(), job.id)
}

impl Reports {
    pub fn new(db: Db, clock: SharedClock, settings: ReportSettings) -> Self {
        Self {
            db,
            clock,
            settings: Arc::new(settings),
            queued: Arc::new(Notify::new()),
            key: Arc::new(OnceCell::new()),
        }
    }

    pub fn settings(&self) -> &ReportSettings {
        &self.settings
    }

    /// Resolves when a job may be waiting (queued on this replica).
    pub async fn queued(&self) {
        self.queued.notified().await
    }

    /// Checks that `actor` may ask for a report of `kind` at all: before the
    /// arguments are looked at, so that a token lacking a scope learns
    /// nothing from them.
    pub fn check_request(&self, actor: &Principal, kind: ReportKind) -> Result<()> {
        actor.require(Scope::ReportsCreate)?;
        actor.require(kind.read_scope())?;
        Ok(())
    }

    /// Checks that `actor` may look at report jobs at all (before any id is
    /// looked up).
    pub fn check_view(&self, actor: &Principal) -> Result<()> {
        actor.require(Scope::ReportsCreate)?;
        Ok(())
    }

    /// Queues a job (its arguments already validated by the caller) and
    /// records `report.requested` in the same transaction.
    pub async fn create(&self, actor: &Principal, report: NewReport) -> Result<ReportJob> {
        self.check_request(actor, report.kind)?;
        let now = self.clock.now();
        let max = self.settings.max_unfinished;
        let job =
            self.db
                .write(|tx| {
                    let report = report.clone();
                    async move {
                        let tx = &*tx;
                        if let Some(token) = actor.token_id {
                            let unfinished = report_job::Entity::find()
                                .filter(report_job::Column::RequesterId.eq(token))
                                .filter(report_job::Column::Status.is_in([
                                    JobStatus::Pending.as_str(),
                                    JobStatus::Started.as_str(),
                                ]))
                                .count(tx)
                                .await?;
                            if unfinished >= max {
                                return Err(Error::RateLimited {
                                    message: format!(
                                        "this token has {unfinished} unfinished report jobs; \
                                     at most {max} may wait or run at once"
                                    ),
                                    retry_after: Duration::from_secs(10),
                                });
                            }
                        }
                        let row = report_job::ActiveModel {
                            kind: Set(report.kind.as_str().to_owned()),
                            format: Set(report.format.as_str().to_owned()),
                            status: Set(JobStatus::Pending.as_str().to_owned()),
                            params: Set(report.params.to_string()),
                            requester_id: Set(actor.token_id),
                            requested_by: Set(actor.name.clone()),
                            scopes: Set(actor.scopes.encode()),
                            realms: Set(actor.realms.encode()),
                            created_at: Set(to_micros(now)),
                            attempts: Set(0),
                            ..Default::default()
                        }
                        .insert(tx)
                        .await?;
                        let job = ReportJob::from_model(row)?;
                        events::written(Change::ReportJob(job.id, JobState::of(&job)));
                        audit::record(
                            tx,
                            actor,
                            now,
                            NewEvent {
                                event: "report.requested",
                                realm: single_realm(&job.requester.realms),
                                resources: vec![resource(&job)],
                            },
                        )
                        .await?;
                        Ok(job)
                    }
                })
                .await?;
        self.queued.notify_one();
        Ok(job)
    }

    /// A job `actor` may see, or None (missing and out of reach alike).
    pub async fn get(&self, actor: &Principal, id: i64) -> Result<Option<ReportJob>> {
        actor.require(Scope::ReportsCreate)?;
        Ok(self.find(id).await?.filter(|job| sees(actor, job)))
    }

    /// Any job, for the download route's signed URLs and the workers.
    pub async fn find(&self, id: i64) -> Result<Option<ReportJob>> {
        report_job::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .map(ReportJob::from_model)
            .transpose()
    }

    /// Jobs `actor` may see, newest first.
    pub async fn list(
        &self,
        actor: &Principal,
        statuses: Option<&[JobStatus]>,
        kinds: Option<&[ReportKind]>,
        args: &PageArgs,
    ) -> Result<(Page<ReportJob>, Condition)> {
        actor.require(Scope::ReportsCreate)?;
        page::validate(args)?;
        let mut condition = Condition::all().add(visible_to(actor));
        if let Some(statuses) = statuses {
            condition = condition
                .add(report_job::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
        }
        if let Some(kinds) = kinds {
            condition =
                condition.add(report_job::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
        }
        let keyset: Keyset<report_job::Entity> = Keyset {
            name: "reports",
            columns: vec![report_job::Column::Id],
            order: Order::Desc,
        };
        let page = page::paginate(
            self.db.conn(),
            condition.clone(),
            &keyset,
            args,
            &page::Models,
            |m: &report_job::Model| vec![KeyPart::Int(m.id)],
        )
        .await?;
        let items = page
            .items
            .into_iter()
            .map(|(cursor, m)| Ok((cursor, ReportJob::from_model(m)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Page {
                items,
                has_next: page.has_next,
                has_previous: page.has_previous,
            },
            condition,
        ))
    }

    /// How many jobs a `list` condition matches.
    pub async fn count(&self, condition: Condition) -> Result<i64> {
        page::count(self.db.conn(), report_job::Entity::find().filter(condition)).await
    }

    /// Cancels a job that has not finished; a finished one is a CONFLICT.
    /// A running job's worker notices at its next lease renewal and stops.
    pub async fn cancel(&self, actor: &Principal, id: i64) -> Result<ReportJob> {
        actor.require(Scope::ReportsCreate)?;
        let now = self.clock.now();
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let missing = || Error::not_found(format!("no report job with id {id}"));
                let row = leases::lock(tx, id).await?.ok_or_else(missing)?;
                let job = ReportJob::from_model(row.clone())?;
                if !sees(actor, &job) {
                    return Err(missing());
                }
                if job.status.is_finished() {
                    return Err(Error::conflict(
                        "id",
                        format!(
                            "report job {id} has already finished ({})",
                            job.status.as_str()
                        ),
                    ));
                }
                let mut active: report_job::ActiveModel = row.into();
                active.status = Set(JobStatus::Cancelled.as_str().to_owned());
                active.finished_at = Set(Some(to_micros(now)));
                active.lease_owner = Set(None);
                active.lease_until = Set(None);
                let job = ReportJob::from_model(active.update(tx).await?)?;
                events::written(Change::ReportJob(job.id, JobState::of(&job)));
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event: "report.cancelled",
                        realm: single_realm(&job.requester.realms),
                        resources: vec![resource(&job)],
                    },
                )
                .await?;
                Ok(job)
            })
            .await
    }

    /// Records that a job's file was downloaded (by `actor`, or through its
    /// signed URL when None).
    pub async fn downloaded(&self, actor: Option<&Principal>, job: &ReportJob) -> Result<()> {
        let now = self.clock.now();
        let anonymous = Principal {
            token_id: None,
            name: "signed URL".to_owned(),
            scopes: Scopes::default(),
            realms: RealmAccess::All,
            ip_address: None,
        };
        let actor = actor.unwrap_or(&anonymous);
        // A transaction of its own, so that the event is pushed to
        // subscribers at its commit.
        self.db
            .write(|tx| async move {
                audit::record(
                    &*tx,
                    actor,
                    now,
                    NewEvent {
                        event: "report.downloaded",
                        realm: single_realm(&job.requester.realms),
                        resources: vec![resource(job)],
                    },
                )
                .await
            })
            .await
    }
}

/// Whether `actor` may see `job`: every realm its requester could see.
fn sees(actor: &Principal, job: &ReportJob) -> bool {
    actor.realms.covers(&job.requester.realms)
}

/// The SQL form of [`sees`]: an unbound token sees every job; a bound one
/// only jobs requested by tokens bound to realms it holds all of. Stored
/// realm lists are sorted and comma-separated, so each subset is one string.
fn visible_to(actor: &Principal) -> Condition {
    match actor.realms.names() {
        None => Condition::all(),
        Some(names) => {
            let names: Vec<&String> = names.iter().collect();
            let mut subsets = Vec::new();
            // Tokens are bound to a handful of realms; 2^n stays small.
            let n = names.len().min(12);
            for mask in 1u32..(1 << n) {
                let subset: Vec<&str> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| names[i].as_str())
                    .collect();
                subsets.push(subset.join(","));
            }
            Condition::all().add(report_job::Column::Realms.is_in(subsets))
        }
    }
}

/// The realm an event names: the requester's only realm, if it has one.
fn single_realm(realms: &RealmAccess) -> Option<&str> {
    match realms.names() {
        Some(names) if names.len() == 1 => names.iter().next().map(String::as_str),
        _ => None,
    }
}
