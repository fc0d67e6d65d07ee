//! Counting, incrementally: a token event moves one token from one slot
//! (realm, holder, active) to another. The realms' live tallies and the
//! holder's count change by one, in the event's transaction, and each realm
//! records the counts its policy asks for. Nothing is recounted, so an event
//! costs the same in a realm of ten tokens or ten million.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{token_counter, token_counter_day, token_holder, token_tally};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::TokenStatus;
use super::policies::policy_of;
use crate::service::user_counts::day_of;
use crate::service::{Error, Result};
use crate::time::to_micros;

/// Where a token stands, for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    /// A realm name or `NO_REALM`.
    pub realm: String,
    pub user: Option<i32>,
    pub active: bool,
}

/// One token event: the slot before (None on enrolment) and after (None on
/// removal).
pub(super) struct Move<'a> {
    pub event: &'a str,
    pub at: DateTime<Utc>,
    pub before: Option<&'a Slot>,
    pub after: Option<&'a Slot>,
}

/// Applies `change` to the tallies and records its realms' counters.
///
/// The tally rows are locked in realm-name order (a move touches two), after
/// the token's own row: two events of one realm queue on its tally, never
/// lose an update, and cannot lock two realms in opposite orders.
pub(super) async fn record(tx: &DatabaseTransaction, change: Move<'_>) -> Result<()> {
    let mut realms: Vec<&str> = [change.before, change.after]
        .into_iter()
        .flatten()
        .map(|slot| slot.realm.as_str())
        .collect();
    realms.sort_unstable();
    realms.dedup();
    let mut tallies = BTreeMap::new();
    for realm in realms {
        tallies.insert(realm.to_owned(), lock_tally(tx, realm).await?);
    }
    for (slot, delta) in [(change.before, -1), (change.after, 1)] {
        let Some(slot) = slot else { continue };
        let Some(tally) = tallies.get_mut(&slot.realm) else {
            continue;
        };
        add_to_cell(tally, slot.active, slot.user.is_some(), delta);
        if let (true, Some(user)) = (slot.active, slot.user) {
            tally.users += hold(tx, &slot.realm, user, delta).await?;
        }
    }
    for tally in tallies.into_values() {
        save(tx, &tally).await?;
        write_counters(tx, change.event, change.at, &tally).await?;
    }
    Ok(())
}

/// Adds `delta` to the cell of `tally` that a token (active or not,
/// assigned or not) is counted in. The bulk generator counts with it too.
pub fn add_to_cell(tally: &mut token_tally::Model, active: bool, assigned: bool, delta: i64) {
    let cell = match (active, assigned) {
        (true, true) => &mut tally.active_assigned,
        (true, false) => &mut tally.active_unassigned,
        (false, true) => &mut tally.inactive_assigned,
        (false, false) => &mut tally.inactive_unassigned,
    };
    *cell += delta;
}

/// The realm's tally row, locked for the rest of the transaction (created
/// empty on the realm's first event; a creation race ends in one row).
async fn lock_tally(tx: &DatabaseTransaction, realm: &str) -> Result<token_tally::Model> {
    let find = || token_tally::Entity::find_by_id(realm.to_owned()).lock_exclusive();
    if let Some(row) = find().one(tx).await? {
        return Ok(row);
    }
    let empty = token_tally::ActiveModel {
        realm: Set(realm.to_owned()),
        active_assigned: Set(0),
        active_unassigned: Set(0),
        inactive_assigned: Set(0),
        inactive_unassigned: Set(0),
        users: Set(0),
    };
    token_tally::Entity::insert(empty)
        .on_conflict(
            OnConflict::column(token_tally::Column::Realm)
                .do_nothing_on([token_tally::Column::Realm])
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
    find()
        .one(tx)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("the token tally of '{realm}' vanished")))
}

async fn save(tx: &DatabaseTransaction, tally: &token_tally::Model) -> Result<()> {
    token_tally::ActiveModel {
        realm: sea_orm::ActiveValue::Unchanged(tally.realm.clone()),
        active_assigned: Set(tally.active_assigned),
        active_unassigned: Set(tally.active_unassigned),
        inactive_assigned: Set(tally.inactive_assigned),
        inactive_unassigned: Set(tally.inactive_unassigned),
        users: Set(tally.users),
    }
    .update(tx)
    .await?;
    Ok(())
}

/// Adds `delta` (±1) to the active, assigned tokens `user` holds in `realm`;
/// returns the change in distinct holders (1 for a first token, -1 for a
/// last one, else 0). The realm's tally is locked, so no one else writes
/// its holders meanwhile.
async fn hold(tx: &DatabaseTransaction, realm: &str, user: i32, delta: i64) -> Result<i64> {
    // A locking read: MariaDB's plain reads see the snapshot the
    // transaction took before it waited for the tally, not the rows the
    // event before it committed.
    let row = token_holder::Entity::find_by_id((realm.to_owned(), user))
        .lock_exclusive()
        .one(tx)
        .await?;
    let held = row.as_ref().map_or(0, |r| r.tokens);
    let now = held + delta;
    match (row, now > 0) {
        (None, true) => {
            token_holder::ActiveModel {
                realm: Set(realm.to_owned()),
                user_id: Set(user),
                tokens: Set(now),
            }
            .insert(tx)
            .await?;
        }
        (Some(row), true) => {
            let mut row: token_holder::ActiveModel = row.into();
            row.tokens = Set(now);
            row.update(tx).await?;
        }
        (Some(row), false) => {
            token_holder::Entity::delete_by_id((row.realm, row.user_id))
                .exec(tx)
                .await?;
        }
        (None, false) => {}
    }
    Ok(i64::from(now > 0) - i64::from(held > 0))
}

/// One counter row per status of the realm's policy, with its count now,
/// and the day's highest count per status raised to it where it is higher.
async fn write_counters(
    tx: &DatabaseTransaction,
    event: &str,
    at: DateTime<Utc>,
    tally: &token_tally::Model,
) -> Result<()> {
    let counts: Vec<(TokenStatus, i64)> = policy_of(tx, &tally.realm)
        .await?
        .into_iter()
        .map(|status| (status, status.count(tally)))
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    let rows = counts
        .iter()
        .map(|(status, count)| token_counter::ActiveModel {
            recorded_at: Set(to_micros(at)),
            event: Set(event.to_owned()),
            realm: Set(tally.realm.clone()),
            status: Set(status.as_str().to_owned()),
            count: Set(*count),
            ..Default::default()
        });
    token_counter::Entity::insert_many(rows)
        .exec_without_returning(tx)
        .await?;
    // The realm's tally is locked: no one else writes its days meanwhile
    // (read with a lock all the same, for the latest rows; see `hold`).
    // By status as well, the primary key's order: by realm and day alone,
    // every day of the realm's history was read (and locked) per event.
    let day = day_of(to_micros(at));
    let statuses = counts.iter().map(|(status, _)| status.as_str());
    let highest: BTreeMap<String, i64> = token_counter_day::Entity::find()
        .filter(token_counter_day::Column::Realm.eq(tally.realm.as_str()))
        .filter(token_counter_day::Column::Status.is_in(statuses))
        .filter(token_counter_day::Column::Day.eq(day))
        .lock_exclusive()
        .all(tx)
        .await?
        .into_iter()
        .map(|d| (d.status, d.highest))
        .collect();
    for (status, count) in counts {
        let row = token_counter_day::ActiveModel {
            realm: Set(tally.realm.clone()),
            status: Set(status.as_str().to_owned()),
            day: Set(day),
            highest: Set(count),
        };
        match highest.get(status.as_str()) {
            None => {
                row.insert(tx).await?;
            }
            Some(high) if count > *high => {
                row.update(tx).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}
