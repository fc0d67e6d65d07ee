//! Database connection: one pool, the right settings per backend, migrations,
//! and transactions: writes that queue (and run again after a deadlock) on
//! every backend, reads that see one snapshot; what a write transaction
//! noted for subscribers is published after it commits (`crate::events`).

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::events::{self, Bus, Change};
use crate::service::{Error, Result};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
use sea_orm::sqlx::sqlite::{LockedSqliteHandle, SqliteJournalMode};
use sea_orm::sqlx::{self, AssertSqlSafe, Executor};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, IsolationLevel, RuntimeErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

/// Turns on SQLite's query planner stability guarantee for one connection.
///
/// SQLite re-prepares a cached statement whenever a parameter its plan looked
/// at is bound again, and it looks at a bound `LIMIT`: every page query (SeaORM
/// binds `LIMIT ?`) was compiled anew on each execution, which was 40% of the
/// time SQLite spent on a page of users. With the guarantee, a statement keeps
/// one plan whatever its parameters. No query here depends on a parameter's
/// value for its plan (role filters use `LIKE '%..%'`, which no index serves).
fn stable_plans(db: NonNull<libsqlite3_sys::sqlite3>) {
    // SAFETY: the handle is locked for us (sqlx's `LockedSqliteHandle`);
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an optional int* out-param.
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        );
    }
}

/// When the statement running on one SQLite connection began: microseconds
/// since `epoch`, 0 while none runs.
struct StatementClock {
    epoch: Instant,
    started: AtomicU64,
}

impl StatementClock {
    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }

    /// False once the running statement is older than `limit`.
    fn within(&self, limit: Duration) -> bool {
        let started = self.started.load(Ordering::Relaxed);
        started == 0 || Duration::from_micros(self.now().saturating_sub(started)) < limit
    }
}

/// SQLite's trace hook: a statement starts (`SQLITE_TRACE_STMT`), ends
/// (`SQLITE_TRACE_PROFILE`), or the connection closes (`SQLITE_TRACE_CLOSE`),
/// which releases the clock the hook was given.
unsafe extern "C" fn on_trace(
    event: c_uint,
    ctx: *mut c_void,
    _p: *mut c_void,
    x: *mut c_void,
) -> c_int {
    let clock = ctx as *const StatementClock;
    // SAFETY: `ctx` is the `Arc<StatementClock>` leaked in `limit_statements`,
    // alive until the CLOSE event below takes it back; SQLite calls the hook
    // from within calls on this connection (sqlx makes one at a time), and
    // never again once the connection closes.
    unsafe {
        match event {
            libsqlite3_sys::SQLITE_TRACE_STMT => {
                // X is the statement's text; a trigger's (run inside a
                // statement) starts with "--".
                let sql = x as *const c_char;
                let trigger =
                    !sql.is_null() && *sql == b'-' as c_char && *sql.add(1) == b'-' as c_char;
                if !trigger {
                    (*clock).started.store((*clock).now(), Ordering::Relaxed);
                }
            }
            libsqlite3_sys::SQLITE_TRACE_PROFILE => (*clock).started.store(0, Ordering::Relaxed),
            libsqlite3_sys::SQLITE_TRACE_CLOSE => drop(Arc::from_raw(clock)),
            _ => {}
        }
    }
    0
}

/// VM instructions between two looks at the clock: a few hundred microseconds.
const PROGRESS_OPS: i32 = 10_000;

/// Stops any statement of one SQLite connection once it has run for `limit`,
/// as `statement_timeout` does on PostgreSQL.
///
/// SQLite has no such setting, and nothing else stops a statement: sqlx steps
/// it to the end on its worker thread even after the request that started it
/// was dropped, and the connection stays busy until then. Here a trace hook
/// notes when each statement starts and ends, and a progress handler (called
/// every [`PROGRESS_OPS`] VM instructions) interrupts one that is older than
/// `limit`; it fails with SQLITE_INTERRUPT and the connection is free again.
fn limit_statements(handle: &mut LockedSqliteHandle<'_>, limit: Duration) {
    let clock = Arc::new(StatementClock {
        epoch: Instant::now(),
        started: AtomicU64::new(0),
    });
    let events = libsqlite3_sys::SQLITE_TRACE_STMT
        | libsqlite3_sys::SQLITE_TRACE_PROFILE
        | libsqlite3_sys::SQLITE_TRACE_CLOSE;
    let ctx = Arc::into_raw(clock.clone()) as *mut c_void;
    // SAFETY: the handle is locked for us; `on_trace` owns `ctx` from here on.
    unsafe {
        libsqlite3_sys::sqlite3_trace_v2(
            handle.as_raw_handle().as_ptr(),
            events,
            Some(on_trace),
            ctx,
        );
    }
    // sqlx owns the handler and drops it before the connection closes.
    handle.set_progress_handler(PROGRESS_OPS, move || clock.within(limit));
}

/// MariaDB's per-session statement limit, in seconds; MySQL has none by that
/// name, only `max_execution_time` (milliseconds, read-only statements).
async fn limit_mysql_statements(
    conn: &mut MySqlConnection,
    limit: Duration,
) -> std::result::Result<(), sqlx::Error> {
    let mariadb = format!("SET SESSION max_statement_time = {}", limit.as_secs_f64());
    match conn.execute(AssertSqlSafe(mariadb)).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(err))
            if err
                .try_downcast_ref::<MySqlDatabaseError>()
                .is_some_and(|e| e.number() == ER_UNKNOWN_SYSTEM_VARIABLE) =>
        {
            let mysql = format!("SET SESSION max_execution_time = {}", limit.as_millis());
            conn.execute(AssertSqlSafe(mysql)).await.map(drop)
        }
        Err(err) => Err(err),
    }
}

const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// How the pool's connections are set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbOptions {
    /// The longest one statement may run, on every backend; None for no
    /// limit (migrations, seeding). The server sets its request timeout, so a
    /// request that timed out leaves no statement running for long.
    pub statement_timeout: Option<Duration>,
}

/// What [`Db::pool_stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

/// A connection pool to one of the three supported backends.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// Where committed changes are published for subscribers.
    events: Arc<Bus>,
}

impl Db {
    /// Connects (creating an SQLite file when the URL says `mode=rwc`).
    pub async fn connect(url: &str, db_options: DbOptions) -> std::result::Result<Self, DbErr> {
        let limit = db_options.statement_timeout.filter(|t| !t.is_zero());
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection when it goes back to the pool, which
            // catches a dropped one; pinging again on every checkout cost a
            // round trip per query. Only connections idle for a while (that a
            // restart or a firewall may have cut) are pinged before use.
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            // Readers never wait for the single SQLite writer in WAL mode; a
            // writer waits (rather than fails) while another one commits.
            //
            // SQLite runs each connection on a worker thread that hands rows
            // to the async side through a channel; at sqlx's default of 50
            // rows, a page of 1000 (a report's batch) blocked the worker
            // twenty times, each a thread switch. 1024 takes a page at once.
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(15))
                    .row_buffer_size(1024)
            })
            // PostgreSQL re-plans a prepared statement on every execution
            // while a custom plan looks cheaper than the generic one, which
            // is always the case with a bound LIMIT: each page query was
            // planned anew. Every statement here is an index range scan or a
            // rollup read whatever its values, so one generic plan per
            // statement serves them all (checked with EXPLAIN).
            //
            // With a statement timeout, JIT compilation is off: it runs
            // before the statement and cannot be interrupted (a large filter
            // compiled for over a second, past the timeout), and the
            // statements here are index scans it does not speed up.
            .map_sqlx_postgres_opts(move |opts| {
                let opts = opts.options([("plan_cache_mode", "force_generic_plan")]);
                match limit {
                    Some(limit) => opts.options([
                        ("statement_timeout", limit.as_millis().to_string()),
                        ("jit", "off".to_owned()),
                    ]),
                    None => opts,
                }
            })
            .map_sqlx_mysql_pool_opts(move |pool| match limit {
                Some(limit) => pool.after_connect(move |conn, _| {
                    Box::pin(async move { limit_mysql_statements(conn, limit).await })
                }),
                None => pool,
            })
            .map_sqlx_sqlite_pool_opts(move |pool| {
                pool.after_connect(move |conn, _| {
                    Box::pin(async move {
                        let mut handle = conn.lock_handle().await?;
                        stable_plans(handle.as_raw_handle());
                        if let Some(limit) = limit {
                            limit_statements(&mut handle, limit);
                        }
                        Ok(())
                    })
                })
            });
        if url.starts_with("sqlite:") {
            options.max_connections(8).min_connections(1);
        } else {
            options.max_connections(16).min_connections(1);
        }
        let conn = Database::connect(options).await?;
        Ok(Self {
            conn,
            events: Arc::default(),
        })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// This process's live events.
    pub fn events(&self) -> &Bus {
        &self.events
    }

    /// Publishes changes a write outside [`Db::write`] has committed
    /// (autocommitted on [`Db::conn`]).
    pub async fn announce(&self, changes: &[Change]) -> Result<()> {
        self.notify_replicas(&self.conn, changes).await?;
        self.events.publish(changes);
        Ok(())
    }

    /// On PostgreSQL, tells every replica's listener of `changes` with
    /// `pg_notify` on `conn`: inside a transaction, PostgreSQL delivers it
    /// at commit, and not at all on rollback.
    async fn notify_replicas<C: ConnectionTrait>(
        &self,
        conn: &C,
        changes: &[Change],
    ) -> Result<()> {
        if changes.is_empty() || self.backend() != DbBackend::Postgres {
            return Ok(());
        }
        for payload in self.events.payloads(changes) {
            conn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [events::CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// The pool's connections now: open, idle, and the most it opens.
    pub fn pool_stats(&self) -> PoolStats {
        fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                size: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            }
        }
        match self.backend() {
            DbBackend::Postgres => of(self.conn.get_postgres_connection_pool()),
            DbBackend::MySql => of(self.conn.get_mysql_connection_pool()),
            _ => of(self.conn.get_sqlite_connection_pool()),
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Brings the schema up to date. Replicas starting together on an empty
    /// PostgreSQL or MariaDB database take turns: the first migrates under a
    /// database-wide lock, the others then find nothing left to do.
    pub async fn migrate(&self) -> std::result::Result<(), DbErr> {
        let failed = |what: &str, e: sqlx::Error| DbErr::Custom(format!("{what}: {e}"));
        match self.backend() {
            DbBackend::Postgres => {
                let mut lock = self.conn.get_postgres_connection_pool().acquire().await;
                let lock = lock.as_mut().map_err(|e| DbErr::Custom(e.to_string()))?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut **lock)
                    .await
                    .map_err(|e| failed("cannot take the migration lock", e))?;
                let migrated = Migrator::up(&self.conn, None).await;
                // Closing the session would release it too.
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut **lock)
                    .await;
                migrated
            }
            DbBackend::MySql => {
                let mut lock = self.conn.get_mysql_connection_pool().acquire().await;
                let lock = lock.as_mut().map_err(|e| DbErr::Custom(e.to_string()))?;
                let taken: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 600)")
                    .bind(MIGRATION_LOCK_NAME)
                    .fetch_one(&mut **lock)
                    .await
                    .map_err(|e| failed("cannot take the migration lock", e))?;
                if taken != Some(1) {
                    return Err(DbErr::Custom(
                        "another process held the migration lock for 10 minutes".to_owned(),
                    ));
                }
                let migrated = Migrator::up(&self.conn, None).await;
                let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(MIGRATION_LOCK_NAME)
                    .execute(&mut **lock)
                    .await;
                migrated
            }
            // One writer at a time, and migrations run in its transactions.
            _ => Migrator::up(&self.conn, None).await,
        }
    }

    pub async fn ping(&self) -> std::result::Result<(), DbErr> {
        self.conn.ping().await
    }

    /// Runs `work` in a write transaction and commits it; a deadlock or a
    /// serialization failure runs it again, up to [`ATTEMPTS`] times in all,
    /// after a short random pause. `work` must therefore only touch the
    /// database through the transaction it is given, and may run more than
    /// once.
    ///
    /// `work` gets the transaction as an `Arc` (and gives it back by
    /// finishing) rather than as a reference: a closure over a borrowed
    /// argument makes a future the compiler cannot yet prove `Send`.
    ///
    /// On PostgreSQL and MariaDB writers lock the rows they change
    /// (`SELECT ... FOR UPDATE`), always in the same order (the user, then
    /// the user's realm), so two writers of one realm queue instead of
    /// deadlocking; the retry covers what row locks cannot order (MariaDB's
    /// gap locks on neighbouring index entries of other realms).
    pub async fn write<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.transact(write_options(), work).await
    }

    /// As [`Db::write`], with SERIALIZABLE isolation where the backend has
    /// it: for a check-then-insert that no row lock can guard (the row does
    /// not exist yet).
    pub async fn write_serializable<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let options = match self.backend() {
            DbBackend::Sqlite => write_options(),
            _ => TransactionOptions {
                isolation_level: Some(IsolationLevel::Serializable),
                ..write_options()
            },
        };
        self.transact(options, work).await
    }

    /// Runs `work` in a read-only transaction: every statement in it sees one
    /// snapshot of the database (REPEATABLE READ on PostgreSQL and MariaDB;
    /// an SQLite read transaction in WAL mode sees one snapshot already).
    pub async fn read<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let options = match self.backend() {
            DbBackend::Sqlite => TransactionOptions::default(),
            _ => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                sqlite_transaction_mode: None,
            },
        };
        self.transact(options, work).await
    }

    async fn transact<T, F, Fut>(&self, options: TransactionOptions, work: F) -> Result<T>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            let outcome: Result<(T, Vec<Change>)> = async {
                let tx = Arc::new(self.conn.begin_with_options(options).await?);
                let (value, written) = events::collecting(work(tx.clone())).await;
                let value = value?;
                self.notify_replicas(&*tx, &written).await?;
                let tx = Arc::into_inner(tx).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "a transaction was still in use at its commit"
                    ))
                })?;
                tx.commit().await?;
                Ok((value, written))
            }
            .await;
            match outcome {
                Ok((value, written)) => {
                    self.events.publish(&written);
                    return Ok(value);
                }
                Err(err) if err.is_transient() && attempt < ATTEMPTS => {
                    tracing::debug!(
                        attempt,
                        "transaction conflicted with another; running it again"
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Begins a write transaction the caller commits (the seeder's batches);
    /// nothing retries it.
    pub async fn begin_write(&self) -> std::result::Result<DatabaseTransaction, DbErr> {
        self.conn.begin_with_options(write_options()).await
    }
}

/// How often [`Db::write`] runs a transaction that keeps conflicting.
pub const ATTEMPTS: u32 = 5;

/// `pg_advisory_lock` key of migrations ("hcmigrat" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6863_6d69_6772_6174;
const MIGRATION_LOCK_NAME: &str = "headcount.migrate";

/// SQLite's default `BEGIN` is deferred: a transaction that reads and then
/// writes fails with SQLITE_BUSY when another writer committed in between,
/// whatever the busy timeout. `BEGIN IMMEDIATE` takes the write lock up front
/// (waiting up to the busy timeout), so writers simply queue. PostgreSQL and
/// MySQL lock rows instead (`SELECT ... FOR UPDATE`).
fn write_options() -> TransactionOptions {
    TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    }
}

/// 5-10 ms before the second attempt, doubling after each: conflicting
/// writers that retry together would conflict again.
fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << (attempt - 1).min(6);
    Duration::from_micros(rand::random_range(base * 1000..base * 2000))
}

/// A deadlock (MySQL 1213, PostgreSQL 40P01) or a serialization failure
/// (40001, which MySQL also reports for its deadlocks): the database rolled
/// the transaction back because of another one, and running it again may
/// succeed.
pub fn is_transient(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(err))
    | DbErr::Query(RuntimeErr::SqlxError(err))
    | DbErr::Conn(RuntimeErr::SqlxError(err))) = err
    else {
        return false;
    };
    let sqlx::Error::Database(err) = err.as_ref() else {
        return false;
    };
    if let Some(mysql) = err.try_downcast_ref::<MySqlDatabaseError>() {
        return mysql.number() == ER_LOCK_DEADLOCK;
    }
    matches!(err.code().as_deref(), Some("40001" | "40P01"))
}

const ER_LOCK_DEADLOCK: u16 = 1213;
