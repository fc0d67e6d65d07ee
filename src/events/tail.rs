//! MariaDB has no LISTEN/NOTIFY: every replica tails the insert-only tables
//! (audit events, user history) by id, and delivers the rows it had not
//! delivered yet (its own were delivered at their commit).
//!
//! Auto-increment ids are handed out when a row is inserted, not when its
//! transaction commits, so a lower id can become visible after a higher one.
//! An id skipped over is a gap: looked for again on every poll until it
//! appears, or for [`GRACE`] (a rolled-back insert leaves a gap for good). A
//! row whose transaction commits more than [`GRACE`] after a higher id was
//! read is not pushed to other replicas' subscribers (it is in the table).
//!
//! Report jobs change in place; their subscribers re-read the job every
//! second (`service::live`), which is how they follow another replica's
//! worker here.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entity::{audit_event, user_change};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::Change;
use crate::db::Db;

/// How often the tables are read.
const POLL: Duration = Duration::from_millis(200);
/// How long a gap is looked for.
pub(crate) const GRACE: Duration = Duration::from_secs(10);
/// Rows read per table and poll.
const BATCH: u64 = 1000;
/// Gaps followed at once per table; beyond, a jump is not followed.
const MAX_GAPS: usize = 10_000;

#[derive(Clone, Copy)]
enum Table {
    AuditEvents,
    UserChanges,
}

impl Table {
    fn change(self, id: i64) -> Change {
        match self {
            Table::AuditEvents => Change::AuditEvent(id),
            Table::UserChanges => Change::UserChange(id),
        }
    }

    /// Ids above `after` (ascending, at most [`BATCH`]), or among `ids`.
    async fn ids(
        self,
        conn: &DatabaseConnection,
        after: i64,
        among: Option<Vec<i64>>,
    ) -> Result<Vec<i64>, DbErr> {
        macro_rules! read {
            ($entity:ident) => {{
                let query = $entity::Entity::find()
                    .select_only()
                    .column($entity::Column::Id);
                let query = match among {
                    Some(ids) => query.filter($entity::Column::Id.is_in(ids)),
                    None => query
                        .filter($entity::Column::Id.gt(after))
                        .order_by_asc($entity::Column::Id)
                        .limit(BATCH),
                };
                query.into_tuple::<i64>().all(conn).await
            }};
        }
        match self {
            Table::AuditEvents => read!(audit_event),
            Table::UserChanges => read!(user_change),
        }
    }

    async fn max_id(self, conn: &DatabaseConnection) -> Result<i64, DbErr> {
        macro_rules! max {
            ($entity:ident) => {
                $entity::Entity::find()
                    .select_only()
                    .expr(Expr::col($entity::Column::Id).max())
                    .into_tuple::<Option<i64>>()
                    .one(conn)
                    .await
            };
        }
        let max = match self {
            Table::AuditEvents => max!(audit_event),
            Table::UserChanges => max!(user_change),
        }?;
        Ok(max.flatten().unwrap_or(0))
    }
}

/// Where one table's tail stands.
struct Tail {
    table: Table,
    /// The highest id read.
    high: i64,
    /// Ids below `high` not seen yet, and since when they are missed.
    gaps: BTreeMap<i64, Instant>,
}

impl Tail {
    async fn start(table: Table, conn: &DatabaseConnection) -> Result<Self, DbErr> {
        Ok(Self {
            table,
            high: table.max_id(conn).await?,
            gaps: BTreeMap::new(),
        })
    }

    /// Reads what appeared since the last poll; returns the new rows' changes.
    async fn poll(
        &mut self,
        conn: &DatabaseConnection,
        now: Instant,
    ) -> Result<Vec<Change>, DbErr> {
        let mut found = Vec::new();
        if !self.gaps.is_empty() {
            let filled = self
                .table
                .ids(conn, 0, Some(self.gaps.keys().copied().collect()))
                .await?;
            for id in filled {
                self.gaps.remove(&id);
                found.push(self.table.change(id));
            }
            self.gaps
                .retain(|_, since| now.duration_since(*since) < GRACE);
        }
        for id in self.table.ids(conn, self.high, None).await? {
            for missing in (self.high + 1)..id {
                if self.gaps.len() >= MAX_GAPS {
                    break;
                }
                self.gaps.insert(missing, now);
            }
            self.high = id;
            found.push(self.table.change(id));
        }
        Ok(found)
    }
}

pub(super) async fn run(db: Db) {
    db.events().tailing.store(true, Ordering::Relaxed);
    let conn = db.conn();
    let mut tails = Vec::new();
    for table in [Table::AuditEvents, Table::UserChanges] {
        loop {
            match Tail::start(table, conn).await {
                Ok(tail) => break tails.push(tail),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot start following other replicas' changes; retrying");
                    tokio::time::sleep(POLL * 5).await;
                }
            }
        }
    }
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = Instant::now();
        for tail in &mut tails {
            match tail.poll(conn, now).await {
                Ok(changes) => {
                    for change in changes {
                        db.events().deliver(change);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read other replicas' changes; will retry")
                }
            }
        }
    }
}
