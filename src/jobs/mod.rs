//! The report worker pool: each worker claims a job (with a lease it renews
//! about once a second), reads the job's rows in batches as its requester
//! (`graphql::report_rows`: the service behind the job's query, each row as
//! the query's node), writes them in the job's format to storage, and marks
//! the job done.
//! A sweep deletes files past their expiry.

pub mod cli;
mod formats;
mod storage;

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use storage::ReportStore;

use crate::graphql::report_rows::{self, Batch, Rows};
use crate::service::reports::{Claimed, ReportKind};
use crate::service::{Principal, Services};
use formats::Writer;

/// Rows read per batch (the largest page the services serve).
const BATCH: i32 = crate::service::page::MAX_PAGE_SIZE;
/// How often an idle worker looks for jobs queued by other replicas, or
/// whose worker's lease ran out.
const POLL: Duration = Duration::from_secs(1);
/// How often expired files are looked for.
const SWEEP: Duration = Duration::from_secs(60);

/// The running workers and the sweep; aborted on drop.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a worker needs.
#[derive(Clone)]
struct Runner {
    services: Services,
    store: ReportStore,
}

/// Starts `count` workers and the expiry sweep on the current runtime.
pub fn start(services: Services, store: ReportStore, count: usize) -> Workers {
    let runner = Runner { services, store };
    let prefix = format!("{:08x}", rand::random::<u32>());
    let mut tasks: Vec<JoinHandle<()>> = (0..count)
        .map(|n| tokio::spawn(work(runner.clone(), format!("{prefix}-{n}"))))
        .collect();
    tasks.push(tokio::spawn(sweep(runner)));
    Workers { tasks }
}

async fn work(runner: Runner, name: String) {
    let reports = runner.services.reports.clone();
    loop {
        match reports.claim(&name).await {
            Ok(Some(claim)) => runner.run(claim).await,
            Ok(None) => {
                tokio::select! {
                    _ = reports.queued() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, worker = %name, "could not claim a report job");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

async fn sweep(runner: Runner) {
    let reports = &runner.services.reports;
    let mut every = tokio::time::interval(SWEEP);
    loop {
        every.tick().await;
        let expired = match reports.expired_files(100).await {
            Ok(expired) => expired,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for expired report files");
                continue;
            }
        };
        for (id, key) in expired {
            match runner.store.delete(&key).await {
                Ok(()) => {
                    if let Err(err) = reports.forget_file(id).await {
                        tracing::warn!(error = %err, job = id, "could not forget an expired report file");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, job = id, "could not delete an expired report file")
                }
            }
        }
    }
}

/// How producing a file ended.
enum Produced {
    /// Written and complete: (rows, bytes).
    File(i64, u64),
    /// The job was cancelled or claimed by another worker; nothing kept.
    Lost,
}

impl Runner {
    async fn run(&self, claim: Claimed) {
        let job = &claim.job;
        let key = format!("{}/{}/{}", job.id, claim.owner, job.file_name());
        let reports = &self.services.reports;
        match self.produce(&claim, &key).await {
            Ok(Produced::File(rows, bytes)) => {
                match reports.complete(&claim, &key, rows, bytes as i64).await {
                    Ok(true) => {
                        tracing::info!(job = job.id, rows, bytes, "report ready");
                        return;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, job = job.id, "could not mark a report done; it will run again")
                    }
                }
                if let Err(err) = self.store.delete(&key).await {
                    tracing::warn!(error = %err, job = job.id, "could not delete an unused report file");
                }
            }
            Ok(Produced::Lost) => {
                tracing::info!(job = job.id, "report job cancelled or taken over; stopped");
            }
            Err(message) => {
                tracing::warn!(job = job.id, %message, "report failed");
                if let Err(err) = reports.fail(&claim, &message).await {
                    tracing::warn!(error = %err, job = job.id, "could not mark a report failed");
                }
            }
        }
    }

    /// Writes the job's file at `key`; the error is the message its
    /// requester reads. A reader task fetches the next batch while this one
    /// is formatted and uploaded; at most two batches wait between them.
    async fn produce(&self, claim: &Claimed, key: &str) -> Result<Produced, String> {
        let job = &claim.job;
        let mut writer = Writer::new(job.format, report_rows::columns(job.kind));
        let mut upload = self.store.create(key);
        let (batches, mut received) = mpsc::channel(2);
        tokio::spawn(read_rows(
            self.services.clone(),
            job.kind,
            job.requester.clone(),
            job.params.clone(),
            batches,
        ));
        let storage_failed =
            |err: std::io::Error| format!("could not write the report file: {err}");
        let renew_every = renewal_interval(self.services.reports.settings().lease);
        // Progress shows after the first batch, then about once a second.
        let mut renewed: Option<Instant> = None;
        writer.begin();
        let mut rows: i64 = 0;
        let mut total: Option<i64> = None;
        while let Some(batch) = received.recv().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(message) => {
                    upload.abort().await;
                    return Err(message);
                }
            };
            total = total.or(batch.total);
            for row in &batch.rows {
                writer.row(row);
            }
            rows += batch.rows.len() as i64;
            if let Err(err) = upload.write(&writer.take()).await {
                upload.abort().await;
                return Err(storage_failed(err));
            }
            if renewed.is_some_and(|at| at.elapsed() < renew_every) {
                continue;
            }
            renewed = Some(Instant::now());
            let progress = match total {
                Some(total) if total > 0 => (rows as f64 / total as f64).min(1.0),
                _ => 1.0,
            };
            match self.services.reports.renew(claim, progress, rows).await {
                Ok(true) => {}
                Ok(false) => {
                    upload.abort().await;
                    return Ok(Produced::Lost);
                }
                Err(err) => {
                    upload.abort().await;
                    return Err(format!("could not record the report's progress: {err}"));
                }
            }
        }
        writer.finish();
        if let Err(err) = upload.write(&writer.take()).await {
            upload.abort().await;
            return Err(storage_failed(err));
        }
        let bytes = upload.finish().await.map_err(storage_failed)?;
        Ok(Produced::File(rows, bytes))
    }
}

/// How often a running job renews its lease and records its progress: often
/// enough that a lease never runs out under a live worker, and that progress
/// moves about once a second, without a write per batch.
fn renewal_interval(lease: chrono::Duration) -> Duration {
    let quarter = lease.to_std().unwrap_or(Duration::ZERO) / 4;
    quarter.min(Duration::from_secs(1))
}

/// Reads the report's rows batch by batch into `batches`, the first batch
/// with the row count; stops after the last batch, on the first error (sent
/// on), or when the writer stops listening.
async fn read_rows(
    services: Services,
    kind: ReportKind,
    requester: Principal,
    params: Value,
    batches: mpsc::Sender<Result<Rows, String>>,
) {
    let mut after: Option<String> = None;
    let mut first = true;
    loop {
        let batch = report_rows::read(
            kind,
            Batch {
                after: after.take(),
                size: BATCH,
                count: first,
                services: &services,
                requester: &requester,
                params: &params,
            },
        )
        .await;
        first = false;
        let next = match &batch {
            Ok(rows) => rows.next.clone(),
            Err(_) => None,
        };
        if batches.send(batch).await.is_err() || next.is_none() {
            return;
        }
        after = next;
    }
}
