//! Database connection: one pool, the right settings per backend, migrations,
//! and write transactions that serialize on every backend.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

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
            // Readers never wait for the single SQLite writer in WAL mode; a
            // writer waits (rather than fails) while another one commits.
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(15))
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
