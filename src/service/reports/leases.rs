//! Workers claim jobs with a lease they renew while they run. A job whose
//! worker died (its lease ran out) is claimed again, so nothing stays
//! STARTED forever; every write of a worker checks that the lease is still
//! its own, so a job runs to completion exactly once.
//!
//! PostgreSQL and MariaDB claim with `FOR UPDATE SKIP LOCKED`: replicas
//! claiming at once pass over each other's rows instead of queueing. SQLite
//! has one writer at a time, which serializes claims by itself.

use chrono::{DateTime, Utc};
use entity::report_job;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{JobState, JobStatus, ReportJob, Reports, resource, single_realm};
use crate::events::{self, Change};
use crate::service::audit::{self, NewEvent};
use crate::service::{Error, Result};
use crate::time::to_micros;

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job: ReportJob,
    /// The worker's name, written as the lease's owner.
    pub owner: String,
}

/// Locks one job's row for the rest of the transaction.
pub(super) async fn lock(tx: &DatabaseTransaction, id: i64) -> Result<Option<report_job::Model>> {
    let mut query = report_job::Entity::find_by_id(id);
    if tx.get_database_backend() != DbBackend::Sqlite {
        query = query.lock(LockType::Update);
    }
    Ok(query.one(tx).await?)
}

/// Only rows whose lease `owner` still holds.
fn held_by(id: i64, owner: &str) -> Condition {
    Condition::all()
        .add(report_job::Column::Id.eq(id))
        .add(report_job::Column::Status.eq(JobStatus::Started.as_str()))
        .add(report_job::Column::LeaseOwner.eq(owner))
}

impl Reports {
    fn lease_end(&self, now: DateTime<Utc>) -> i64 {
        to_micros(now + self.settings.lease)
    }

    /// Claims the oldest job waiting (or whose worker's lease ran out).
    pub async fn claim(&self, owner: &str) -> Result<Option<Claimed>> {
        let now = self.clock.now();
        let lease_until = self.lease_end(now);
        let claimed = self
            .db
            .write(|tx| async move {
                let tx = &*tx;
                let claimable = Condition::any()
                    .add(report_job::Column::Status.eq(JobStatus::Pending.as_str()))
                    .add(
                        Condition::all()
                            .add(report_job::Column::Status.eq(JobStatus::Started.as_str()))
                            .add(report_job::Column::LeaseUntil.lt(to_micros(now))),
                    );
                let mut query = report_job::Entity::find()
                    .filter(claimable)
                    .order_by_asc(report_job::Column::Id)
                    .limit(1);
                if tx.get_database_backend() != DbBackend::Sqlite {
                    query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
                }
                let Some(row) = query.one(tx).await? else {
                    return Ok(None);
                };
                let id = row.id;
                let attempts = row.attempts + 1;
                let started_at = row.started_at.unwrap_or(to_micros(now));
                let mut active: report_job::ActiveModel = row.into();
                active.status = Set(JobStatus::Started.as_str().to_owned());
                active.lease_owner = Set(Some(owner.to_owned()));
                active.lease_until = Set(Some(lease_until));
                active.started_at = Set(Some(started_at));
                active.attempts = Set(attempts);
                active.progress = Set(Some(0.0));
                active.row_count = Set(Some(0));
                let job = ReportJob::from_model(active.update(tx).await?)?;
                events::written(Change::ReportJob(id, JobState::of(&job)));
                Ok(Some(job))
            })
            .await?;
        Ok(claimed.map(|job| Claimed {
            job,
            owner: owner.to_owned(),
        }))
    }

    /// Extends the lease and records progress. False when the job is no
    /// longer this worker's (cancelled, or claimed by another after the
    /// lease ran out): the worker must stop and keep nothing.
    pub async fn renew(&self, claim: &Claimed, progress: f64, rows: i64) -> Result<bool> {
        let now = self.clock.now();
        let updated = report_job::Entity::update_many()
            .col_expr(
                report_job::Column::LeaseUntil,
                Expr::value(self.lease_end(now)),
            )
            .col_expr(report_job::Column::Progress, Expr::value(progress))
            .col_expr(report_job::Column::RowCount, Expr::value(rows))
            .filter(held_by(claim.job.id, &claim.owner))
            .exec(self.db.conn())
            .await?;
        let held = updated.rows_affected == 1;
        if held {
            let state = JobState::of(&claim.job).with_progress(progress, rows);
            self.db
                .announce(&[Change::ReportJob(claim.job.id, state)])
                .await?;
        }
        Ok(held)
    }

    /// Marks the job done with its file at `object_key`, and records
    /// `report.completed`. False when the lease was lost meanwhile (the
    /// caller then deletes the file).
    pub async fn complete(
        &self,
        claim: &Claimed,
        object_key: &str,
        rows: i64,
        bytes: i64,
    ) -> Result<bool> {
        let now = self.clock.now();
        let expires_at = to_micros(now + self.settings.retention);
        let object_key = object_key.to_owned();
        self.finish(
            claim,
            JobStatus::Success,
            "report.completed",
            vec![
                (report_job::Column::Progress, Expr::value(1.0)),
                (report_job::Column::RowCount, Expr::value(rows)),
                (report_job::Column::ByteSize, Expr::value(bytes)),
                (report_job::Column::ObjectKey, Expr::value(object_key)),
                (report_job::Column::ExpiresAt, Expr::value(expires_at)),
            ],
        )
        .await
    }

    /// Marks the job failed with `message` (said to the requester) and
    /// records `report.failed`, unless the lease was lost meanwhile.
    pub async fn fail(&self, claim: &Claimed, message: &str) -> Result<bool> {
        let message = message.to_owned();
        self.finish(
            claim,
            JobStatus::Failure,
            "report.failed",
            vec![(report_job::Column::Error, Expr::value(message))],
        )
        .await
    }

    /// Ends a job this worker still holds: sets `status` and `columns`,
    /// releases the lease and records `event`, in one transaction. False
    /// (and nothing written) when the lease is no longer this worker's.
    async fn finish(
        &self,
        claim: &Claimed,
        status: JobStatus,
        event: &'static str,
        columns: Vec<(report_job::Column, SimpleExpr)>,
    ) -> Result<bool> {
        let now = self.clock.now();
        self.db
            .write(|tx| {
                let columns = columns.clone();
                async move {
                    let tx = &*tx;
                    let mut update = report_job::Entity::update_many()
                        .col_expr(report_job::Column::Status, Expr::value(status.as_str()))
                        .col_expr(report_job::Column::FinishedAt, Expr::value(to_micros(now)))
                        .col_expr(
                            report_job::Column::LeaseOwner,
                            Expr::value(Option::<String>::None),
                        )
                        .col_expr(
                            report_job::Column::LeaseUntil,
                            Expr::value(Option::<i64>::None),
                        );
                    for (column, value) in columns {
                        update = update.col_expr(column, value);
                    }
                    let updated = update
                        .filter(held_by(claim.job.id, &claim.owner))
                        .exec(tx)
                        .await?;
                    if updated.rows_affected != 1 {
                        return Ok(false);
                    }
                    let job = &claim.job;
                    let state = JobState::of(job).with_status(status);
                    events::written(Change::ReportJob(job.id, state));
                    audit::record(
                        tx,
                        &job.requester,
                        now,
                        NewEvent {
                            event,
                            realm: single_realm(&job.requester.realms),
                            resources: vec![resource(job)],
                        },
                    )
                    .await?;
                    Ok(true)
                }
            })
            .await
    }

    /// Finished files past their expiry: (job id, object key), at most
    /// `limit`.
    pub async fn expired_files(&self, limit: u64) -> Result<Vec<(i64, String)>> {
        let now = to_micros(self.clock.now());
        let rows = report_job::Entity::find()
            .filter(report_job::Column::Status.eq(JobStatus::Success.as_str()))
            .filter(report_job::Column::ExpiresAt.lte(now))
            .filter(report_job::Column::ObjectKey.is_not_null())
            .order_by_asc(report_job::Column::Id)
            .limit(limit)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| m.object_key.map(|key| (m.id, key)))
            .collect())
    }

    /// Forgets an expired job's file once it is deleted.
    pub async fn forget_file(&self, id: i64) -> Result<()> {
        report_job::Entity::update_many()
            .col_expr(
                report_job::Column::ObjectKey,
                Expr::value(Option::<String>::None),
            )
            .filter(report_job::Column::Id.eq(id))
            .exec(self.db.conn())
            .await
            .map_err(Error::from)?;
        Ok(())
    }
}
