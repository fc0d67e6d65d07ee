use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, TryGetable, Value};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rollup of `activity` for `userLatency` (see docs/INSIGHTS.md): per realm,
/// UTC hour and block of 65,536 user ids, one row whose `samples` holds the
/// hour's sessions as 12-byte pairs (user id, latency), NaN for a session
/// without a sample. `recordActivity` appends to it in the transaction that
/// writes the sessions; the pairs are in no order, so an append never reads
/// the row. Existing sessions are rolled up here once.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // BLOB holds 64 KiB on MariaDB; bytea is compressed by default on
        // PostgreSQL, which buys little on these bytes and costs every read.
        let samples = match backend {
            DbBackend::MySql => custom(ActivityLatencyHours::Samples, Alias::new("LONGBLOB")),
            _ => blob(ActivityLatencyHours::Samples),
        };
        manager
            .create_table(
                Table::create()
                    .table(ActivityLatencyHours::Table)
                    .col(integer(ActivityLatencyHours::RealmId))
                    .col(big_integer(ActivityLatencyHours::Hour))
                    .col(integer(ActivityLatencyHours::Bucket))
                    .col(samples)
                    .primary_key(
                        Index::create()
                            .col(ActivityLatencyHours::RealmId)
                            .col(ActivityLatencyHours::Hour)
                            .col(ActivityLatencyHours::Bucket),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if backend == DbBackend::Postgres {
            db.execute_unprepared(
                "ALTER TABLE activity_latency_hours ALTER COLUMN samples SET STORAGE EXTERNAL",
            )
            .await?;
        }
        rebuild(db).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ActivityLatencyHours::Table).to_owned())
            .await
    }
}

pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
/// Bytes of one (user id, latency) pair: both little-endian, the latency as
/// the bits of an `f64`.
pub const PAIR_BYTES: usize = 12;
/// User ids per block: `user_id >> BUCKET_SHIFT` names a user's block, which
/// bounds what one append rewrites in a large realm.
pub const BUCKET_SHIFT: u32 = 16;

/// A rollup row's key: (realm, UTC hour, block of user ids).
pub type LatencyKey = (i32, i64, i32);

/// The key of a session of `user` in `realm` starting at `started_at` (µs).
pub fn latency_key(realm: i32, user: i32, started_at: i64) -> LatencyKey {
    (
        realm,
        started_at.div_euclid(MICROS_PER_HOUR),
        user >> BUCKET_SHIFT,
    )
}

/// Appends one session's pair; a session without a sample is NaN (recorded
/// latencies are finite).
pub fn push_latency_pair(samples: &mut Vec<u8>, user: i32, latency: Option<f64>) {
    samples.extend_from_slice(&user.to_le_bytes());
    samples.extend_from_slice(&latency.unwrap_or(f64::NAN).to_bits().to_le_bytes());
}

/// Most rows, and about the most bytes, per INSERT (MariaDB's packet limit
/// is 16 MiB by default).
const APPEND_ROWS: usize = 200;
const APPEND_BYTES: usize = 1 << 20;

/// Appends `pairs` to their rollup rows, creating missing ones, in key
/// order (two writers of the same rows lock them in the same order).
pub async fn append_latency_pairs<C: ConnectionTrait>(
    db: &C,
    pairs: BTreeMap<LatencyKey, Vec<u8>>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let on_conflict = match backend {
        DbBackend::MySql => " ON DUPLICATE KEY UPDATE samples = CONCAT(samples, VALUES(samples))",
        DbBackend::Postgres => {
            " ON CONFLICT (realm_id, hour, bucket) DO UPDATE \
             SET samples = activity_latency_hours.samples || excluded.samples"
        }
        // `||` gives text on SQLite; its bytes stay the same.
        _ => {
            " ON CONFLICT (realm_id, hour, bucket) DO UPDATE \
             SET samples = CAST(activity_latency_hours.samples || excluded.samples AS BLOB)"
        }
    };
    let mut rows = pairs.into_iter().peekable();
    while rows.peek().is_some() {
        let mut values: Vec<Value> = Vec::new();
        let mut tuples: Vec<String> = Vec::new();
        let mut bytes = 0;
        while let Some(((realm, hour, bucket), samples)) =
            rows.next_if(|_| tuples.len() < APPEND_ROWS && bytes < APPEND_BYTES)
        {
            bytes += samples.len();
            let n = values.len();
            tuples.push(match backend {
                DbBackend::Postgres => {
                    format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
                }
                _ => "(?, ?, ?, ?)".to_owned(),
            });
            values.extend([realm.into(), hour.into(), bucket.into(), samples.into()]);
        }
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO activity_latency_hours (realm_id, hour, bucket, samples) VALUES {}{on_conflict}",
                tuples.join(", ")
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// Sessions read per statement while rolling up.
const REBUILD_SPAN: i64 = 6 * MICROS_PER_HOUR;

/// Rolls every session up into an empty `activity_latency_hours`, realm by
/// realm and a few hours at a time, stepping over gaps.
pub async fn rebuild<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut next = first::<i32, _>(db, "SELECT MIN(realm_id) FROM activity".to_owned()).await?;
    while let Some(realm) = next {
        let mut from = first::<i64, _>(
            db,
            format!("SELECT MIN(started_at) FROM activity WHERE realm_id = {realm}"),
        )
        .await?;
        while let Some(start) = from {
            let start = start.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR;
            let end = start.saturating_add(REBUILD_SPAN);
            let rows = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!(
                        "SELECT user_id, started_at, latency_ms FROM activity \
                         WHERE realm_id = {realm} AND started_at >= {start} AND started_at < {end}"
                    ),
                ))
                .await?;
            let mut pairs: BTreeMap<LatencyKey, Vec<u8>> = BTreeMap::new();
            for r in rows {
                let user: i32 = r.try_get_by_index(0)?;
                let key = latency_key(realm, user, r.try_get_by_index(1)?);
                push_latency_pair(pairs.entry(key).or_default(), user, r.try_get_by_index(2)?);
            }
            append_latency_pairs(db, pairs).await?;
            from = first(
                db,
                format!(
                    "SELECT MIN(started_at) FROM activity \
                     WHERE realm_id = {realm} AND started_at >= {end}"
                ),
            )
            .await?;
        }
        next = first(
            db,
            format!("SELECT MIN(realm_id) FROM activity WHERE realm_id > {realm}"),
        )
        .await?;
    }
    Ok(())
}

/// The one value of `sql` (an aggregate: NULL over no rows).
async fn first<T: TryGetable, C: ConnectionTrait>(db: &C, sql: String) -> Result<Option<T>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    match row {
        Some(r) => r.try_get_by_index::<Option<T>>(0),
        None => Ok(None),
    }
}

#[derive(DeriveIden)]
enum ActivityLatencyHours {
    Table,
    RealmId,
    Hour,
    Bucket,
    Samples,
}
