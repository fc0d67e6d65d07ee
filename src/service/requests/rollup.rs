//! The request log's hourly rollup (`api_request_hours`): requests per
//! dimension, UTC hour, realm and key. The writer adds each batch to it in
//! the batch's transaction and pruning subtracts what it deletes in the
//! deleting transaction, so a whole hour read from the rollup always equals
//! a count of that hour's raw rows; `apiRequestStats` reads whole hours here
//! and only the partial hours at a range's ends from `api_requests`.

use std::collections::BTreeMap;

use entity::api_request_hour;
use migration::rebuild_api_request_hours;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::stats::Group;
use crate::service::Result;
use crate::service::user_counts::added;

pub use migration::MICROS_PER_HOUR as HOUR_MICROS;

/// The start of `micros`'s UTC hour, as the SQL computes it
/// (`occurred_at - occurred_at % 3600000000`; request times are after 1970).
pub fn hour_of(micros: i64) -> i64 {
    micros - micros % HOUR_MICROS
}

/// What one stored request adds to the rollup.
pub struct Counted<'a> {
    pub occurred_at: i64,
    pub realm: Option<&'a str>,
    pub success: bool,
    pub operation: &'a str,
    pub error_code: Option<&'a str>,
    pub token_name: Option<&'a str>,
}

/// Changes to the rollup, summed per row before they are written; keys
/// borrow from the requests counted (no allocation per request).
#[derive(Debug, Default)]
pub struct Deltas<'a>(BTreeMap<(&'static str, i64, &'a str, &'a str), i64>);

impl<'a> Deltas<'a> {
    /// Adds `n` (negative when rows are deleted) for one request, to each
    /// dimension's row.
    pub fn add(&mut self, request: &Counted<'a>, n: i64) {
        let hour = hour_of(request.occurred_at);
        let realm = request.realm.unwrap_or_default();
        for group in Group::ALL {
            let key = group.key_of(request);
            *self
                .0
                .entry((group.dimension(), hour, realm, key))
                .or_default() += n;
        }
    }

    /// Writes the changes in `db`'s transaction: one upsert that adds to
    /// existing rows (in key order, so concurrent writers lock rows in the
    /// same order), then drops rows that came down to zero.
    pub async fn apply<C: ConnectionTrait>(&self, db: &C) -> Result<()> {
        let rows: Vec<_> = self
            .0
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(
                |((dimension, hour, realm, key), n)| api_request_hour::ActiveModel {
                    dimension: Set((*dimension).to_owned()),
                    hour_start: Set(*hour),
                    realm: Set((*realm).to_owned()),
                    group_key: Set((*key).to_owned()),
                    requests: Set(*n),
                },
            )
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        api_request_hour::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    api_request_hour::Column::Dimension,
                    api_request_hour::Column::HourStart,
                    api_request_hour::Column::Realm,
                    api_request_hour::Column::GroupKey,
                ])
                .value(
                    api_request_hour::Column::Requests,
                    added(db, "api_request_hours", "requests"),
                )
                .to_owned(),
            )
            .exec(db)
            .await?;
        if let Some(last_removed) = self
            .0
            .iter()
            .filter(|(_, n)| **n < 0)
            .map(|((_, hour, _, _), _)| *hour)
            .max()
        {
            api_request_hour::Entity::delete_many()
                .filter(api_request_hour::Column::Requests.eq(0))
                .filter(api_request_hour::Column::HourStart.lte(last_removed))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Rolls every stored request up into the (emptied) rollup: after a bulk
/// load that bypassed the writer (`headcount seed`).
pub async fn rebuild<C: ConnectionTrait>(db: &C) -> Result<()> {
    api_request_hour::Entity::delete_many().exec(db).await?;
    for statement in rebuild_api_request_hours() {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}
