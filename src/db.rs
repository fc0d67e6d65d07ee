//! Database connection: one pool, the right settings per backend, migrations,
//! and write transactions that serialize on every backend.

use std::ffi::c_int;
use std::ptr::NonNull;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
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

/// A connection pool to one of the three supported backends.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects (creating an SQLite file when the URL says `mode=rwc`).
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
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
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(15))
            })
            // PostgreSQL re-plans a prepared statement on every execution
            // while a custom plan looks cheaper than the generic one, which
            // is always the case with a bound LIMIT: each page query was
            // planned anew. Every statement here is an index range scan or a
            // rollup read whatever its values, so one generic plan per
            // statement serves them all (checked with EXPLAIN).
            .map_sqlx_postgres_opts(|opts| {
                opts.options([("plan_cache_mode", "force_generic_plan")])
            })
            .map_sqlx_sqlite_pool_opts(|pool| {
                pool.after_connect(|conn, _| {
                    Box::pin(async move {
                        let mut handle = conn.lock_handle().await?;
                        stable_plans(handle.as_raw_handle());
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
        Ok(Self { conn })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    /// Begins a transaction that will write.
    ///
    /// SQLite's default `BEGIN` is deferred: a transaction that reads and then
    /// writes fails with SQLITE_BUSY when another writer committed in between,
    /// whatever the busy timeout. `BEGIN IMMEDIATE` takes the write lock up
    /// front (waiting up to the busy timeout), so writers simply queue.
    /// PostgreSQL and MySQL lock rows instead (`SELECT ... FOR UPDATE`).
    pub async fn write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.conn
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await
    }
}
