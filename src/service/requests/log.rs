//! Writing the request log off the request path: a request hands its record
//! to a bounded queue ([`RequestLog::record`], one `try_send`), and one writer
//! task inserts what has queued up in batches. When the queue is full the
//! record is dropped and counted: the log never slows a request down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::api_request;
use metrics::SharedString;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};
use tokio::sync::{mpsc, oneshot};

use super::rollup::{Counted, Deltas};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::service::Result;
use crate::time::to_micros;

/// Most rows one transaction writes: with [`COMMIT_EVERY`], the writer
/// keeps up with 10,000 requests/s.
const BATCH: usize = 2000;

/// Rows per INSERT: a batch is written by statements of these sizes, largest
/// first (1,000 rows: three of 256, three of 64, ... twelve statements at
/// most), each prepared once per connection and reused. A statement of the
/// batch's own size would be a new text every time, parsed and planned anew
/// (SQLite prepares a 1,000-row INSERT for longer than it takes to run it)
/// and kept in each connection's statement cache. 256 rows bind 2,304
/// values, within every backend's limit.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// The writer commits at most once per this long, so that records gather
/// into fewer, larger transactions: on SQLite each commit is an fsync and
/// makes every reading connection drop its page cache, beside the requests
/// being served. At about 5,000 requests/s, committing whatever had queued
/// cost 15% of the throughput, every 50 ms 9%, every 200 ms 4-7%
/// (docs/BENCHMARKS.md). A flush is answered at once all the same.
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// Most rows one pruning statement deletes, so that pruning a large backlog
/// never holds locks for long.
pub const PRUNE_BATCH: u64 = 1000;

/// How the log is run (`serve`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLogConfig {
    /// Records that may wait for the writer; more are dropped.
    pub queue: usize,
    /// Days a record is kept.
    pub retention_days: u32,
    /// False: no request is recorded (nor measured), the writer never starts.
    pub enabled: bool,
}

impl Default for RequestLogConfig {
    fn default() -> Self {
        Self {
            queue: 10_000,
            retention_days: 30,
            enabled: true,
        }
    }
}

/// One request served, as the HTTP edge saw it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub at: DateTime<Utc>,
    pub operation: String,
    /// The first error's code, None on success.
    pub error_code: Option<String>,
    pub duration: Duration,
    pub token_id: Option<i32>,
    pub token_name: Option<String>,
    pub realm: Option<String>,
    /// Already anonymised.
    pub ip_address: Option<String>,
}

enum Entry {
    Request(RequestRecord),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

struct Running {
    queue: mpsc::Sender<Entry>,
    config: RequestLogConfig,
}

/// The request log's queue. Cheap to clone; records nothing until started.
#[derive(Clone)]
pub struct RequestLog {
    db: Db,
    clock: SharedClock,
    running: Arc<OnceLock<Running>>,
    dropped: Arc<AtomicU64>,
    operations: Arc<OperationLabels>,
}

/// Most distinct operation names the metrics label: clients choose the
/// names, and each name is a series of its own in every scrape.
const MAX_OPERATION_LABELS: usize = 500;

/// The request metrics of each operation name: the first
/// [`MAX_OPERATION_LABELS`] names seen, then `other`. Each name's counters
/// and histograms are registered once and kept, so measuring a request is
/// one map lookup rather than a registry lookup (hashing every label) per
/// metric.
#[derive(Default)]
struct OperationLabels {
    known: RwLock<HashMap<String, Arc<Measures>>>,
    other: OnceLock<Arc<Measures>>,
}

/// One operation's request count and latency histogram per outcome, each
/// registered when first measured (a series appears with its first request).
struct Measures {
    operation: SharedString,
    outcomes: [OnceLock<(metrics::Counter, metrics::Histogram)>; 2],
}

/// Outcome labels, by `usize::from(failed)`.
const OUTCOMES: [&str; 2] = ["SUCCESS", "FAILURE"];

impl Measures {
    fn new(operation: SharedString) -> Self {
        Self {
            operation,
            outcomes: Default::default(),
        }
    }

    fn measure(&self, failed: bool, duration: Duration) {
        let outcome = usize::from(failed);
        let (requests, seconds) = self.outcomes[outcome].get_or_init(|| {
            let labels = [
                metrics::Label::new("operation", self.operation.clone()),
                metrics::Label::new("outcome", OUTCOMES[outcome]),
            ];
            (
                metrics::counter!("headcount_requests_total", labels.iter()),
                metrics::histogram!("headcount_request_duration_seconds", labels.iter()),
            )
        });
        requests.increment(1);
        seconds.record(duration.as_secs_f64());
    }
}

impl OperationLabels {
    /// Counts the request by operation and outcome, and its latency.
    fn measure(&self, record: &RequestRecord) {
        self.of(&record.operation)
            .measure(record.error_code.is_some(), record.duration);
    }

    fn of(&self, operation: &str) -> Arc<Measures> {
        if let Some(known) = self
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(operation)
        {
            return known.clone();
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some(measures) = known.get(operation) {
            return measures.clone();
        }
        if known.len() >= MAX_OPERATION_LABELS {
            return self
                .other
                .get_or_init(|| Arc::new(Measures::new(SharedString::const_str("other"))))
                .clone();
        }
        let measures = Arc::new(Measures::new(SharedString::from(operation.to_owned())));
        known.insert(operation.to_owned(), measures.clone());
        measures
    }
}

impl RequestLog {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            running: Arc::default(),
            dropped: Arc::default(),
            operations: Arc::default(),
        }
    }

    /// Starts the writer task on the current runtime (once; later calls do
    /// nothing). A disabled log never starts.
    pub fn start(&self, config: RequestLogConfig) {
        if !config.enabled {
            return;
        }
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        if self.running.set(Running { queue, config }).is_err() {
            return;
        }
        // Shown from the first scrape on, at 0 until something is dropped.
        metrics::counter!("headcount_request_log_dropped_total").increment(0);
        metrics::gauge!("headcount_request_log_queue_depth").set(0.0);
        tokio::spawn(write(self.db.clone(), receiver, self.operations.clone()));
    }

    /// The time a request starts at (the injected clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Queues one record, or drops it when the queue is full. Never waits.
    ///
    /// Its request metrics are recorded by the writer too, off the request
    /// path; only a dropped record's are recorded here.
    pub fn record(&self, record: RequestRecord) {
        let Some(running) = self.running.get() else {
            return;
        };
        if let Err(err) = running.queue.try_send(Entry::Request(record)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("headcount_request_log_dropped_total").increment(1);
            if let Entry::Request(record) = err.into_inner() {
                self.operations.measure(&record);
            }
        }
    }

    /// Records waiting for the writer.
    pub fn depth(&self) -> usize {
        self.running
            .get()
            .map_or(0, |r| r.queue.max_capacity() - r.queue.capacity())
    }

    /// Records dropped because the queue was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is written (at
    /// shutdown, and for tests, which read the log right after a request).
    pub async fn flush(&self) {
        let Some(running) = self.running.get() else {
            return;
        };
        let (done, written) = oneshot::channel();
        if running.queue.send(Entry::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Deletes records older than the retention period, [`PRUNE_BATCH`] at
    /// a time; returns how many.
    ///
    /// Each batch is one transaction that locks its rows, deletes them and
    /// subtracts them from the hourly rollup: two replicas pruning at once
    /// never subtract a row twice, and the rollup never counts a deleted one.
    pub async fn prune(&self) -> Result<u64> {
        let Some(running) = self.running.get() else {
            return Ok(0);
        };
        let keep = chrono::Duration::days(running.config.retention_days.into());
        let cutoff = to_micros(self.clock.now() - keep);
        let mut deleted = 0;
        loop {
            let n = self
                .db
                .write(|tx| async move { prune_batch(&*tx, cutoff).await })
                .await?;
            deleted += n;
            if n < PRUNE_BATCH {
                return Ok(deleted);
            }
            // Let requests and the writer in between batches.
            tokio::task::yield_now().await;
        }
    }
}

/// Deletes up to [`PRUNE_BATCH`] of the oldest records from before `cutoff`
/// and takes them off the rollup, in `db`'s transaction.
async fn prune_batch<C: ConnectionTrait>(db: &C, cutoff: i64) -> Result<u64> {
    let rows: Vec<api_request::Model> = api_request::Entity::find()
        .filter(api_request::Column::OccurredAt.lt(cutoff))
        .order_by_asc(api_request::Column::Id)
        .limit(PRUNE_BATCH)
        .lock_exclusive()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut deltas = Deltas::default();
    for row in &rows {
        deltas.add(&counted(row), -1);
    }
    let deleted = api_request::Entity::delete_many()
        .filter(api_request::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(db)
        .await?
        .rows_affected;
    deltas.apply(db).await?;
    Ok(deleted)
}

/// What a stored request counts for in the rollup.
fn counted(m: &api_request::Model) -> Counted<'_> {
    Counted {
        occurred_at: m.occurred_at,
        realm: m.realm.as_deref(),
        success: m.success,
        operation: &m.operation,
        error_code: m.error_code.as_deref(),
        token_name: m.token_name.as_deref(),
    }
}

/// The writer: takes what has queued up (at most [`BATCH`]), records its
/// metrics, inserts it and adds it to the hourly rollup in one transaction,
/// answers the flushes among it, and waits for more.
async fn write(db: Db, mut receiver: mpsc::Receiver<Entry>, operations: Arc<OperationLabels>) {
    let inserts = Inserts::new(db.backend());
    let mut entries = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut entries, BATCH).await > 0 {
        let started = tokio::time::Instant::now();
        let mut flushes = Vec::new();
        let rows: Vec<api_request::Model> = entries
            .drain(..)
            .filter_map(|entry| match entry {
                Entry::Request(record) => {
                    operations.measure(&record);
                    Some(row(record))
                }
                Entry::Flush(done) => {
                    flushes.push(done);
                    None
                }
            })
            .collect();
        metrics::gauge!("headcount_request_log_queue_depth")
            .set((receiver.max_capacity() - receiver.capacity()) as f64);
        if !rows.is_empty() {
            let n = rows.len() as u64;
            let mut deltas = Deltas::default();
            for row in &rows {
                deltas.add(&counted(row), 1);
            }
            let (rows, deltas, inserts) = (&rows, &deltas, &inserts);
            let written = db
                .write(|tx| async move {
                    inserts.write(&*tx, rows).await?;
                    deltas.apply(&*tx).await
                })
                .await;
            match written {
                Ok(()) => metrics::counter!("headcount_request_log_written_total").increment(n),
                Err(err) => {
                    tracing::warn!(error = %err, rows = n, "could not write to the request log");
                    metrics::counter!("headcount_request_log_failed_total").increment(n);
                }
            }
        }
        let flushed = !flushes.is_empty();
        for done in flushes {
            let _ = done.send(());
        }
        if !flushed {
            tokio::time::sleep_until(started + COMMIT_EVERY).await;
        }
    }
}

/// The writer's INSERT statements, one text per size in [`CHUNKS`].
struct Inserts {
    backend: DbBackend,
    /// By position in [`CHUNKS`].
    texts: Vec<String>,
}

/// The columns a record fills (the id is the database's), in the order
/// [`Inserts::bind`] binds them.
const COLUMNS: [api_request::Column; 9] = [
    api_request::Column::OccurredAt,
    api_request::Column::Operation,
    api_request::Column::Success,
    api_request::Column::ErrorCode,
    api_request::Column::DurationMicros,
    api_request::Column::TokenId,
    api_request::Column::TokenName,
    api_request::Column::Realm,
    api_request::Column::IpAddress,
];

impl Inserts {
    fn new(backend: DbBackend) -> Self {
        let texts = CHUNKS
            .iter()
            .map(|&rows| {
                let mut insert = Query::insert();
                insert.into_table(api_request::Entity).columns(COLUMNS);
                for _ in 0..rows {
                    insert.values_panic(COLUMNS.map(|_| Value::from(0i64).into()));
                }
                backend.build(&insert).sql
            })
            .collect();
        Self { backend, texts }
    }

    /// Inserts `rows` in `db`'s transaction.
    async fn write<C: ConnectionTrait>(&self, db: &C, rows: &[api_request::Model]) -> Result<()> {
        let mut rest = rows;
        for (size, text) in CHUNKS.iter().zip(&self.texts) {
            while rest.len() >= *size {
                let (chunk, after) = rest.split_at(*size);
                let mut values = Vec::with_capacity(size * COLUMNS.len());
                for row in chunk {
                    Self::bind(row, &mut values);
                }
                db.execute_raw(Statement::from_sql_and_values(
                    self.backend,
                    text.as_str(),
                    values,
                ))
                .await?;
                rest = after;
            }
        }
        Ok(())
    }

    fn bind(row: &api_request::Model, values: &mut Vec<Value>) {
        values.extend([
            row.occurred_at.into(),
            row.operation.clone().into(),
            row.success.into(),
            row.error_code.clone().into(),
            row.duration_micros.into(),
            row.token_id.into(),
            row.token_name.clone().into(),
            row.realm.clone().into(),
            row.ip_address.clone().into(),
        ]);
    }
}

/// The row a record is stored as (its id is the database's).
fn row(record: RequestRecord) -> api_request::Model {
    api_request::Model {
        id: 0,
        occurred_at: to_micros(record.at),
        operation: record.operation,
        success: record.error_code.is_none(),
        error_code: record.error_code,
        duration_micros: i64::try_from(record.duration.as_micros()).unwrap_or(i64::MAX),
        token_id: record.token_id,
        token_name: record.token_name,
        realm: record.realm,
        ip_address: record.ip_address,
    }
}
