//! The report worker pool: each worker claims a job (with a lease it renews
//! about once a second), reads the job's rows in batches as its requester
//! and writes them in the job's format (`graphql::report_rows`: the service
//! behind the job's query, each row as the query's node, straight into the
//! file's buffer), uploads them to storage, and marks the job done.
//! A sweep deletes files past their expiry.

pub mod cli;
pub(crate) mod formats;
mod outputs;
mod storage;

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

pub use outputs::Outputs;
pub use storage::ReportStore;

use crate::graphql::report_rows::{self, Batch, Fetched};
use crate::service::Services;
use crate::service::reports::{Claimed, ReportJob};
use formats::Writer;
use outputs::Output;

/// Rows read per batch (the largest page the services serve).
const BATCH: i32 = crate::service::page::MAX_PAGE_SIZE;
/// Batches read ahead of the one being written.
const READ_AHEAD: usize = 2;
/// Bytes gathered before they go to storage (which buffers whole parts).
const FLUSH_BYTES: usize = 256 * 1024;
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
    outputs: Outputs,
}

/// Starts `count` workers and the expiry sweep on the current runtime.
pub fn start(services: Services, store: ReportStore, count: usize) -> Workers {
    start_writing(services, store, count, Outputs::default())
}

/// [`start`], the workers also writing the jobs `outputs` asks for to their
/// output files as they run (`headcount report`).
pub fn start_writing(
    services: Services,
    store: ReportStore,
    count: usize,
    outputs: Outputs,
) -> Workers {
    let runner = Runner {
        services,
        store,
        outputs,
    };
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
    /// Written and complete: (rows, bytes), and the output written beside
    /// it when one was asked for (not yet in place).
    File(i64, u64, Option<Output>),
    /// The job was cancelled or claimed by another worker; nothing kept.
    Lost,
}

impl Runner {
    async fn run(&self, claim: Claimed) {
        let job = &claim.job;
        let key = format!("{}/{}/{}", job.id, claim.owner, job.file_name());
        let reports = &self.services.reports;
        match self.produce(&claim, &key).await {
            Ok(Produced::File(rows, bytes, output)) => {
                match reports.complete(&claim, &key, rows, bytes as i64).await {
                    Ok(true) => {
                        tracing::info!(job = job.id, rows, bytes, "report ready");
                        if let Some(output) = output
                            && let Err(err) = output.deliver()
                        {
                            tracing::warn!(error = %err, job = job.id, "could not move the report's output into place; it will be copied from storage");
                        }
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
    /// requester reads. A task of its own reads the batches ahead
    /// ([`read_ahead`]), so the database (or SQLite's thread) and the
    /// decoding of one batch run on the other core while this task writes
    /// the batch before, cell by cell into the file's buffer; storage
    /// uploads finished parts meanwhile.
    async fn produce(&self, claim: &Claimed, key: &str) -> Result<Produced, String> {
        let job = &claim.job;
        let mut writer = Writer::new(job.format, report_rows::columns(job.kind));
        let mut upload = self.store.create(key);
        let mut output = self.outputs.start(job.id);
        let storage_failed =
            |err: std::io::Error| format!("could not write the report file: {err}");
        let renew_every = renewal_interval(self.services.reports.settings().lease);
        let (batches, mut fetched) = tokio::sync::mpsc::channel(READ_AHEAD);
        let _reader = Reader(tokio::spawn(read_ahead(
            self.services.clone(),
            job.clone(),
            batches,
        )));
        // Progress shows after the first batch, then about once a second.
        let mut renewed: Option<Instant> = None;
        writer.begin();
        let mut rows: i64 = 0;
        let mut total = None;
        loop {
            let batch = match fetched.recv().await {
                Some(Ok(batch)) => batch,
                Some(Err(message)) => {
                    upload.abort().await;
                    return Err(message);
                }
                None => {
                    upload.abort().await;
                    return Err("the report's rows stopped arriving".to_owned());
                }
            };
            total = total.or(batch.total);
            rows += batch.rows as i64;
            let last = batch.next.is_none();
            batch.write(&mut writer);
            if last {
                break;
            }
            if writer.pending().len() >= FLUSH_BYTES {
                if let Err(err) = upload.write(writer.pending()).await {
                    upload.abort().await;
                    return Err(storage_failed(err));
                }
                write_output(&mut output, writer.pending());
                writer.clear();
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
        if let Err(err) = upload.write(writer.pending()).await {
            upload.abort().await;
            return Err(storage_failed(err));
        }
        write_output(&mut output, writer.pending());
        let bytes = upload.finish().await.map_err(storage_failed)?;
        if let Some(written) = &mut output
            && let Err(err) = written.finish().await
        {
            tracing::warn!(error = %err, job = job.id, "could not write the report's output; it will be copied from storage");
            output = None;
        }
        Ok(Produced::File(rows, bytes, output))
    }
}

/// Reads the job's batches, one after another, into `batches` (the first
/// with the report's row count), until the last, an error, or the receiver
/// is gone. The next batch's query runs while the one before waits there.
async fn read_ahead(
    services: Services,
    job: ReportJob,
    batches: tokio::sync::mpsc::Sender<Result<Fetched, String>>,
) {
    let mut after = None;
    let mut first = true;
    loop {
        let batch = report_rows::read(
            job.kind,
            Batch {
                after: after.take(),
                size: BATCH,
                count: std::mem::take(&mut first),
                services: &services,
                requester: &job.requester,
                params: &job.params,
            },
        )
        .await;
        let next = batch.as_ref().ok().and_then(|batch| batch.next.clone());
        if batches.send(batch).await.is_err() {
            return;
        }
        match next {
            Some(next) => after = Some(next),
            None => return,
        }
    }
}

/// The task reading a job's batches; stopped when the job's writing stops.
struct Reader(JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes `bytes` to the output, if any; an output that failed is dropped
/// (its file removed), and the report goes on without it.
fn write_output(output: &mut Option<Output>, bytes: &[u8]) {
    if output.as_mut().is_some_and(|output| !output.write(bytes))
        && let Some(failed) = output.take()
    {
        let err = failed.failure();
        tracing::warn!(error = %err, "could not write the report's output; it will be copied from storage");
    }
}

/// How often a running job renews its lease and records its progress: often
/// enough that a lease never runs out under a live worker, and that progress
/// moves about once a second, without a write per batch.
fn renewal_interval(lease: chrono::Duration) -> Duration {
    let quarter = lease.to_std().unwrap_or(Duration::ZERO) / 4;
    quarter.min(Duration::from_secs(1))
}
