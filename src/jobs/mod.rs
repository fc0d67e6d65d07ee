//! The report worker pool: each worker claims a job (with a lease it renews
//! after every batch), pages through the job's query as its requester,
//! writes the rows in the job's format to storage, and marks the job done.
//! A sweep deletes files past their expiry.

pub mod cli;
mod formats;
mod sources;
mod storage;

use std::time::Duration;

use async_graphql::{Request, Variables};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use sources::Source;
pub use storage::ReportStore;

use crate::graphql::{self, AppSchema};
use crate::service::Services;
use crate::service::reports::Claimed;
use formats::Writer;

/// Rows asked for per page of a report's query.
const BATCH: i64 = 500;
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
    /// Executes the reports' queries: the server's schema without its
    /// complexity limit (a page of a report is larger than a client's).
    schema: AppSchema,
    store: ReportStore,
}

/// Starts `count` workers and the expiry sweep on the current runtime.
pub fn start(services: Services, schema: AppSchema, store: ReportStore, count: usize) -> Workers {
    let runner = Runner {
        services,
        schema,
        store,
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
    /// requester reads.
    async fn produce(&self, claim: &Claimed, key: &str) -> Result<Produced, String> {
        let job = &claim.job;
        let source = Source::of(job.kind);
        let document = source.document();
        let mut writer = Writer::new(job.format, source.columns().collect());
        let mut upload = self.store.create(key);
        let storage_failed =
            |err: std::io::Error| format!("could not write the report file: {err}");
        writer.begin();
        let mut after: Option<String> = None;
        let mut rows: i64 = 0;
        let mut total: Option<i64> = None;
        loop {
            let page = match self
                .page(claim, &document, after.as_deref(), total.is_none())
                .await
            {
                Ok(page) => page,
                Err(message) => {
                    upload.abort().await;
                    return Err(message);
                }
            };
            if total.is_none() {
                total = page["totalCount"].as_i64();
            }
            for edge in page["edges"].as_array().into_iter().flatten() {
                if let Some(node) = edge["node"].as_object() {
                    writer.row(node);
                    rows += 1;
                }
            }
            if let Err(err) = upload.write(&writer.take()).await {
                upload.abort().await;
                return Err(storage_failed(err));
            }
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
            let info = &page["pageInfo"];
            if info["hasNextPage"] != Value::Bool(true) {
                break;
            }
            after = info["endCursor"].as_str().map(str::to_owned);
        }
        writer.finish();
        if let Err(err) = upload.write(&writer.take()).await {
            upload.abort().await;
            return Err(storage_failed(err));
        }
        let bytes = upload.finish().await.map_err(storage_failed)?;
        Ok(Produced::File(rows, bytes))
    }

    /// One page of the job's query, run as its requester.
    async fn page(
        &self,
        claim: &Claimed,
        document: &str,
        after: Option<&str>,
        count: bool,
    ) -> Result<Value, String> {
        let job = &claim.job;
        let mut variables = job.params.clone();
        if let Some(map) = variables.as_object_mut() {
            map.insert("first".to_owned(), json!(BATCH));
            map.insert("after".to_owned(), json!(after));
            map.insert("count".to_owned(), json!(count));
        }
        let request = Request::new(document).variables(Variables::from_json(variables));
        let request = graphql::prepare(request, &self.services, job.requester.clone());
        let response = self.schema.execute(request).await;
        if let Some(error) = response.errors.first() {
            return Err(format!("the report's query failed: {}", error.message));
        }
        let mut data = response
            .data
            .into_json()
            .map_err(|err| format!("the report's query answered no JSON: {err}"))?;
        Ok(data["page"].take())
    }
}
