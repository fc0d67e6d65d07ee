//! `headcount report`: queues a report as the system, runs a worker in this
//! process (replicas serving the same database may take the job too), shows
//! its progress (a bar on a terminal, plain lines otherwise) and writes the
//! finished file: as it runs when this process's worker runs it
//! (`outputs`), else copied from the report store.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use async_graphql::{Request, Variables};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::outputs::partial_path;
use super::{Outputs, ReportStore};
use crate::config::{ReportCommandArgs, ReportFormatArg, ReportKindArg};
use crate::graphql::{self, AppSchema};
use crate::progress::Progress;
use crate::service::reports::{JobStatus, ReportJob};
use crate::service::{Principal, Services};

/// The mutation that queues `kind`.
fn mutation(kind: ReportKindArg) -> &'static str {
    match kind {
        ReportKindArg::Changelog => "generateChangelogReport",
        ReportKindArg::Snapshot => "generateSnapshotReport",
        ReportKindArg::Audit => "generateAuditReport",
        ReportKindArg::TokenCounters => "generateTokenCounterReport",
        ReportKindArg::ApiRequests => "generateApiRequestReport",
    }
}

/// The report's GraphQL input from the flags; a flag the kind's query does
/// not take is an error naming it.
pub fn input(args: &ReportCommandArgs) -> anyhow::Result<Value> {
    use ReportKindArg::*;
    let kind = args.kind;
    let mut input = Map::new();
    let mut take = |flag: &str, kinds: &[ReportKindArg], key: &str, value: Option<Value>| {
        let Some(value) = value else { return Ok(()) };
        if !kinds.contains(&kind) {
            bail!("--{flag} does not apply to {} reports", kind_name(kind));
        }
        input.insert(key.to_owned(), value);
        Ok(())
    };
    let text = |v: &Option<String>| v.clone().map(Value::String);
    let list = |v: &[String]| (!v.is_empty()).then(|| json!(v));
    take(
        "start",
        &[Changelog, Audit, ApiRequests],
        "startDate",
        text(&args.start),
    )?;
    take(
        "end",
        &[Changelog, Audit, ApiRequests],
        "endDate",
        text(&args.end),
    )?;
    take(
        "window",
        &[Audit, ApiRequests],
        "window",
        text(&args.window),
    )?;
    take("date", &[Snapshot], "date", text(&args.date))?;
    take("since", &[TokenCounters], "since", text(&args.since))?;
    take(
        "change-type",
        &[Changelog],
        "changeTypes",
        list(&args.change_type),
    )?;
    take("status", &[TokenCounters], "status", list(&args.status))?;
    take(
        "all-permitted-realms",
        &[Audit],
        "allPermittedRealms",
        args.all_permitted_realms.then_some(Value::Bool(true)),
    )?;
    match (kind, args.realm.as_slice()) {
        (_, []) => {}
        (Changelog | Snapshot, realms) => {
            input.insert("filter".to_owned(), json!({ "realm": realms }));
        }
        (TokenCounters, realms) => {
            input.insert("realms".to_owned(), json!(realms));
        }
        (Audit, [realm]) => {
            input.insert("realm".to_owned(), json!(realm));
        }
        (Audit, _) => bail!("--realm: an audit report takes one realm (or --all-permitted-realms)"),
        (ApiRequests, _) => bail!("--realm does not apply to api-requests reports"),
    }
    let format = match args.format {
        ReportFormatArg::Csv => "CSV",
        ReportFormatArg::Json => "JSON",
        ReportFormatArg::Ndjson => "NDJSON",
    };
    input.insert("format".to_owned(), json!(format));
    Ok(Value::Object(input))
}

fn kind_name(kind: ReportKindArg) -> &'static str {
    match kind {
        ReportKindArg::Changelog => "changelog",
        ReportKindArg::Snapshot => "snapshot",
        ReportKindArg::Audit => "audit",
        ReportKindArg::TokenCounters => "token-counters",
        ReportKindArg::ApiRequests => "api-requests",
    }
}

/// Queues the report, runs a worker, waits for the job and writes the file
/// to `output` (`-`: standard output). Returns the finished job.
pub async fn run(
    services: &Services,
    schema: &AppSchema,
    store: &ReportStore,
    args: &ReportCommandArgs,
) -> anyhow::Result<ReportJob> {
    let input = input(args)?;
    let field = mutation(args.kind);
    let input_type = field.trim_start_matches("generate");
    let document =
        format!("mutation($input: {input_type}Input!) {{ job: {field}(input: $input) {{ id }} }}");
    let actor = Principal::system();
    let request = Request::new(document).variables(Variables::from_json(json!({ "input": input })));
    let response = schema
        .execute(graphql::prepare(request, services, actor.clone()))
        .await;
    if let Some(error) = response.errors.first() {
        let field = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("field"))
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        bail!("the report was refused: {}{field}", error.message);
    }
    let data = response.data.into_json()?;
    let id = data["job"]["id"]
        .as_str()
        .context("the mutation answered no job id")?;
    let number = graphql::report_job_number(id).context("a report job id")?;
    // The worker starts once it knows where this job's output goes.
    let outputs = Outputs::default();
    if args.output != Path::new("-") {
        outputs.want(number, args.output.clone());
    }
    let _worker = super::start_with(
        services.clone(),
        store.clone(),
        1,
        super::Reading::default(),
        outputs.clone(),
    );
    let job = follow(services, &actor, number).await?;
    match job.status {
        JobStatus::Success => {}
        JobStatus::Failure => bail!(
            "report {number} failed: {}",
            job.error.as_deref().unwrap_or("no reason recorded")
        ),
        other => bail!("report {number} ended {}", other.as_str()),
    }
    let key = job
        .object_key
        .as_deref()
        .context("the finished report has no file")?;
    if outputs.delivered(number).await {
        tracing::debug!(job = number, "the output was written as the report ran");
        return Ok(job);
    }
    tracing::debug!(job = number, "copying the report out of the store");
    write(store, key, number, &args.output)
        .await
        .with_context(|| format!("report {number}: cannot write {}", args.output.display()))?;
    Ok(job)
}

/// Follows the job until it ends (each change as it commits, rather than
/// polling), showing its progress on stderr.
async fn follow(services: &Services, actor: &Principal, id: i64) -> anyhow::Result<ReportJob> {
    let mut progress = Progress::new(format!("report {id}"), 1000);
    let updates = services.live.report_job(actor, id).await?;
    futures::pin_mut!(updates);
    while let Some(job) = updates.next().await {
        let job = job?;
        let rows = job.row_count.unwrap_or(0);
        let done = (job.progress.unwrap_or(0.0) * 1000.0) as u64;
        let message = || format!("{} · {rows} rows", job.status.as_str());
        if job.status.is_finished() {
            progress.finish(done, &message());
            return Ok(job);
        }
        progress.set(done, message);
    }
    bail!("report job {id} stopped being followed before it finished")
}

/// Copies the stored file to `output`, through a temporary file renamed at
/// the end (so a failed copy leaves no partial file). A file of a local
/// store is copied by the kernel (`copy_file_range`) rather than streamed
/// through this process.
async fn write(store: &ReportStore, key: &str, job: i64, output: &Path) -> anyhow::Result<()> {
    if output == Path::new("-") {
        let (_, mut stream) = store.open(key).await?;
        let mut stdout = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            stdout.write_all(&chunk?)?;
        }
        stdout.flush()?;
        return Ok(());
    }
    let partial = partial_path(output, job);
    let result = async {
        let file = match store.local_path(key) {
            Some(source) => {
                std::fs::copy(source, &partial)?;
                std::fs::File::open(&partial)?
            }
            None => {
                let (_, mut stream) = store.open(key).await?;
                let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
                while let Some(chunk) = stream.next().await {
                    file.write_all(&chunk?)?;
                }
                file.into_inner().map_err(|e| e.into_error())?
            }
        };
        file.sync_all()?;
        std::fs::rename(&partial, output)?;
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
