//! PostgreSQL: every replica LISTENs on one channel; a writing transaction
//! sends its changes with `pg_notify`, which PostgreSQL delivers to every
//! listener when (and only if) the transaction commits.
//!
//! The listening connection is taken from the pool for good. When it is
//! lost, sqlx reconnects on the next receive; notifications sent while it
//! was away are lost (subscribers of the other replicas' events miss them;
//! the events are in the tables).

use std::time::Duration;

use sea_orm::sqlx::Error as SqlxError;
use sea_orm::sqlx::postgres::PgListener;

use super::CHANNEL;
use crate::db::Db;

/// Pause before listening again after an error.
const RETRY: Duration = Duration::from_secs(1);

pub(super) async fn run(db: Db) {
    let pool = db.conn().get_postgres_connection_pool().clone();
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(SqlxError::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for other replicas' changes; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "cannot LISTEN for other replicas' changes; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(notification) => db.events().receive(notification.payload()),
                Err(SqlxError::PoolClosed) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "lost the connection that listens for other replicas' changes");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}
