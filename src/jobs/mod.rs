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

use futures::StreamExt;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

pub use outputs::Outputs;
pub use storage::ReportStore;

use crate::graphql::report_rows::{self, Batch, Fetched, Walked};
use crate::service::Services;
use crate::service::reports::{Claimed, ReportJob};
use formats::Writer;
use outputs::Output;

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

/// How many rows a report reads at a time.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Rows per batch: the largest page the services serve, by default.
    pub batch_rows: i32,
    /// Rows per statement, where a report's rows are read on rather than
    /// a batch at a time (`report_rows::walker`): by default long enough
    /// that starting statements costs little, short enough to stay far
    /// within any statement timeout.
    pub walk_rows: u64,
}

impl Default for Reading {
    fn default() -> Self {
        Self {
            batch_rows: crate::service::page::MAX_PAGE_SIZE,
            walk_rows: 100 * crate::service::page::MAX_PAGE_SIZE as u64,
        }
    }
}

/// What a worker needs.
#[derive(Clone)]
struct Runner {
    services: Services,
    store: ReportStore,
    outputs: Outputs,
    reading: Reading,
}

/// Starts `count` workers and the expiry sweep on the current runtime.
pub fn start(services: Services, store: ReportStore, count: usize) -> Workers {
    start_with(
        services,
        store,
        count,
        Reading::default(),
        Outputs::default(),
    )
}

/// [`start`], the workers reading rows as `reading` says and also writing
/// the jobs `outputs` asks for to their output files as they run
/// (`headcount report`).
pub fn start_with(
    services: Services,
    store: ReportStore,
    count: usize,
    reading: Reading,
    outputs: Outputs,
) -> Workers {
    let runner = Runner {
        services,
        store,
        outputs,
        reading,
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
            self.reading,
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
/// is gone. The next batch is read while the one before waits there: with
/// one statement for many batches where the kind and database allow
/// ([`walk`]), else with a query per batch.
async fn read_ahead(
    services: Services,
    job: ReportJob,
    reading: Reading,
    batches: Sender<Result<Fetched, String>>,
) {
    let batch = |after: Option<String>, count: bool| Batch {
        after,
        size: reading.batch_rows,
        count,
        services: &services,
        requester: &job.requester,
        params: &job.params,
    };
    if let Some(walker) = report_rows::walker(job.kind, &services) {
        let open = |after, count| walker(batch(after, count), reading.walk_rows);
        return walk(job.id, open, reading.walk_rows, &batches).await;
    }
    let mut after = None;
    let mut first = true;
    loop {
        let read =
            report_rows::read(job.kind, batch(after.take(), std::mem::take(&mut first))).await;
        let next = read.as_ref().ok().and_then(|batch| batch.next.clone());
        if batches.send(read).await.is_err() {
            return;
        }
        match next {
            Some(next) => after = Some(next),
            None => return,
        }
    }
}

/// [`read_ahead`] with statements of up to `limit` rows each, `open(after,
/// count)` starting each after the last batch sent. A statement that fails
/// after some of its batches went out is started again after the last of
/// them (`serve` limits each statement to its request timeout, which a
/// worker held up by slow storage can outlast); one that fails before any
/// went out fails the report.
async fn walk<F, Fut>(job: i64, mut open: F, limit: u64, batches: &Sender<Result<Fetched, String>>)
where
    F: FnMut(Option<String>, bool) -> Fut,
    Fut: Future<Output = Result<Walked, String>>,
{
    let mut after: Option<String> = None;
    let mut first = true;
    loop {
        let mut walked = match open(after.clone(), std::mem::take(&mut first)).await {
            Ok(walked) => walked,
            Err(message) => {
                let _ = batches.send(Err(message)).await;
                return;
            }
        };
        let mut rows = 0u64;
        let mut failure = None;
        while let Some(batch) = walked.batches.next().await {
            match batch {
                Ok(mut batch) => {
                    rows += batch.rows as u64;
                    after = batch.next.clone();
                    match counted(&mut walked).await {
                        Ok(total) => batch.total = total,
                        Err(message) => {
                            let _ = batches.send(Err(message)).await;
                            return;
                        }
                    }
                    if batches.send(Ok(batch)).await.is_err() {
                        return;
                    }
                }
                Err(message) => {
                    failure = Some(message);
                    break;
                }
            }
        }
        match failure {
            Some(message) if rows == 0 => {
                let _ = batches.send(Err(message)).await;
                return;
            }
            Some(message) => {
                tracing::info!(job, %message, "a report's statement stopped; reading on after its last batch");
            }
            None if rows < limit => {
                let end = counted(&mut walked).await.map(Fetched::end);
                let _ = batches.send(end).await;
                return;
            }
            None => {}
        }
    }
}

/// The walk's row count, once (None if not asked for, or taken before).
async fn counted(walked: &mut Walked) -> Result<Option<i64>, String> {
    match walked.total.take() {
        Some(counting) => counting.await.map(Some),
        None => Ok(None),
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use futures::{FutureExt, stream};

    use super::*;

    /// A batch of `rows` rows ending at `last`.
    fn batch(rows: usize, last: &str) -> Result<Fetched, String> {
        let mut batch = Fetched::end(None);
        batch.rows = rows;
        batch.next = Some(last.to_owned());
        Ok(batch)
    }

    fn statement(total: Option<i64>, batches: Vec<Result<Fetched, String>>) -> Walked {
        Walked {
            total: total.map(|total| async move { Ok(total) }.boxed()),
            batches: stream::iter(batches).boxed(),
        }
    }

    /// What [`walk`] sends, as (rows, next, total) or the error; and where
    /// it started each statement, and whether it asked for the count.
    async fn walked(
        limit: u64,
        statements: Vec<Result<Walked, String>>,
    ) -> (
        Vec<Result<(usize, Option<String>, Option<i64>), String>>,
        Vec<(Option<String>, bool)>,
    ) {
        let mut statements = VecDeque::from(statements);
        let mut opened = Vec::new();
        let open = |after: Option<String>, count: bool| {
            opened.push((after, count));
            let next = statements.pop_front().expect("no more statements expected");
            async move { next }
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        walk(1, open, limit, &tx).await;
        drop(tx);
        let mut sent = Vec::new();
        while let Some(batch) = rx.recv().await {
            sent.push(batch.map(|b| (b.rows, b.next, b.total)));
        }
        (sent, opened)
    }

    #[tokio::test]
    async fn a_walk_reads_on_after_each_full_statement_and_ends_after_a_short_one() {
        let (sent, opened) = walked(
            3,
            vec![
                Ok(statement(Some(4), vec![batch(2, "b"), batch(1, "c")])),
                Ok(statement(None, vec![batch(1, "d")])),
            ],
        )
        .await;
        assert_eq!(
            sent,
            vec![
                Ok((2, Some("b".into()), Some(4))),
                Ok((1, Some("c".into()), None)),
                Ok((1, Some("d".into()), None)),
                Ok((0, None, None)),
            ]
        );
        assert_eq!(opened, vec![(None, true), (Some("c".into()), false)]);
    }

    #[tokio::test]
    async fn an_empty_report_ends_with_its_count() {
        let (sent, opened) = walked(3, vec![Ok(statement(Some(0), vec![]))]).await;
        assert_eq!(sent, vec![Ok((0, None, Some(0)))]);
        assert_eq!(opened, vec![(None, true)]);
    }

    #[tokio::test]
    async fn a_statement_that_fails_midway_starts_again_after_the_last_batch_sent() {
        let (sent, opened) = walked(
            10,
            vec![
                Ok(statement(
                    Some(5),
                    vec![batch(2, "b"), Err("statement timeout".into())],
                )),
                Ok(statement(None, vec![batch(2, "d"), batch(1, "e")])),
            ],
        )
        .await;
        assert_eq!(
            sent,
            vec![
                Ok((2, Some("b".into()), Some(5))),
                Ok((2, Some("d".into()), None)),
                Ok((1, Some("e".into()), None)),
                Ok((0, None, None)),
            ]
        );
        assert_eq!(opened, vec![(None, true), (Some("b".into()), false)]);
    }

    #[tokio::test]
    async fn a_statement_that_fails_before_any_batch_fails_the_report() {
        let (sent, opened) = walked(
            10,
            vec![
                Ok(statement(
                    Some(5),
                    vec![batch(2, "b"), Err("timeout".into())],
                )),
                Ok(statement(None, vec![Err("the database is gone".into())])),
            ],
        )
        .await;
        assert_eq!(
            sent,
            vec![
                Ok((2, Some("b".into()), Some(5))),
                Err("the database is gone".into()),
            ]
        );
        assert_eq!(opened.len(), 2);
        let (sent, _) = walked(10, vec![Err("bad filter".into())]).await;
        assert_eq!(sent, vec![Err("bad filter".into())]);
    }

    #[tokio::test]
    async fn a_count_that_fails_fails_the_report() {
        let failing = || Walked {
            total: Some(async { Err("count failed".to_owned()) }.boxed()),
            batches: stream::iter(vec![batch(2, "b")]).boxed(),
        };
        let (sent, _) = walked(10, vec![Ok(failing())]).await;
        assert_eq!(sent, vec![Err("count failed".into())]);
        let empty = Walked {
            total: Some(async { Err("count failed".to_owned()) }.boxed()),
            batches: stream::iter(vec![]).boxed(),
        };
        let (sent, _) = walked(10, vec![Ok(empty)]).await;
        assert_eq!(sent, vec![Err("count failed".into())]);
    }
}
