//! The recorded counters, as LinOTP's reporting reads them: show (a page of
//! rows), period (the highest count in effect in a window), maximum (the
//! highest ever), the live counts, and deletions. Every action has its own
//! scope, and every realm named must be one the caller may name.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{realm, token_counter, token_counter_day, token_tally};
use sea_orm::sea_query::Alias;
use sea_orm::sea_query::extension::mysql::{IndexHintScope, MySqlSelectStatementExt};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select,
};

use super::{NO_REALM, RealmCounts, TokenStatus, Tokens, sees_key};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::directory::normalize_realm;
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs};
use crate::service::user_counts::day_of;
use crate::service::{Error, Principal, RealmAccess, Result, Scope};
use crate::time::{from_micros, to_micros};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Most realms one counter query may name.
pub const MAX_REALMS: usize = 100;

/// One recorded count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub event: String,
    pub realm: String,
    pub status: TokenStatus,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterOrderField {
    #[default]
    Date,
    Event,
    Realm,
    Status,
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CounterOrder {
    pub field: CounterOrderField,
    pub direction: Order,
}

impl Default for CounterOrder {
    fn default() -> Self {
        Self {
            field: CounterOrderField::Date,
            direction: Order::Asc,
        }
    }
}

/// A resolved `tokenCounters` query, without paging (for `totalCount`).
#[derive(Debug, Clone)]
pub struct CounterMatch {
    condition: Condition,
}

/// `tokenCountsInPeriod`: the window and each realm's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub realms: Vec<RealmCounts>,
}

/// Which counters to delete. No status deletes TOTAL rows only (as LinOTP);
/// `all_statuses` every status; `before` only rows recorded before that day.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deletion<'a> {
    pub realms: Option<&'a [String]>,
    pub status: Option<&'a [TokenStatus]>,
    pub all_statuses: bool,
    pub before: Option<NaiveDate>,
}

fn to_counter(m: token_counter::Model) -> Counter {
    Counter {
        status: m.status.parse().unwrap_or(TokenStatus::Total),
        id: m.id,
        date: from_micros(m.recorded_at),
        event: m.event,
        realm: m.realm,
        count: m.count,
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The realms named, each one the caller may name (FORBIDDEN otherwise,
/// whether it exists or not; `/:no realm:/` only for a caller bound to no
/// realm), normalized and without repeats.
fn named_realms(actor: &Principal, names: &[String], field: &str) -> Result<Vec<String>> {
    if names.is_empty() {
        return Err(Error::bad_input(
            field,
            "name at least one realm, or leave realms out",
        ));
    }
    if names.len() > MAX_REALMS {
        return Err(Error::bad_input(
            field,
            format!("{field} holds {} realms; at most {MAX_REALMS}", names.len()),
        ));
    }
    let mut out = BTreeSet::new();
    for name in names {
        actor.require_realm(name)?;
        out.insert(normalize_realm(name));
    }
    Ok(out.into_iter().collect())
}

/// The realms a query covers: those named, else None (every realm) for a
/// caller bound to no realm, else the caller's realms. Never fewer than
/// asked: a realm outside the caller's is FORBIDDEN, not dropped.
fn realm_filter(actor: &Principal, names: Option<&[String]>) -> Result<Option<Vec<String>>> {
    match (names, &actor.realms) {
        (Some(names), _) => named_realms(actor, names, "realms").map(Some),
        (None, RealmAccess::All) => Ok(None),
        (None, RealmAccess::Only(own)) => Ok(Some(own.iter().cloned().collect())),
    }
}

/// The statuses asked for, or `default` when none are.
fn statuses(asked: Option<&[TokenStatus]>, default: &[TokenStatus]) -> Result<Vec<TokenStatus>> {
    match asked {
        Some([]) => Err(Error::bad_input(
            "status",
            "name at least one status, or leave status out",
        )),
        Some(asked) => {
            let set: BTreeSet<TokenStatus> = asked.iter().copied().collect();
            Ok(set.into_iter().collect())
        }
        None => Ok(default.to_vec()),
    }
}

/// The counter row indexes the MySQL/MariaDB planner is told to use
/// (migration m20261203_100005).
const BY_SERIES: &str = "ix_token_counters_series";
const BY_REALM_DATE: &str = "ix_token_counters_realm_date";

/// `select` on MySQL/MariaDB through `index` (`FORCE INDEX`); SQLite and
/// PostgreSQL write no index hints and plan these queries well on their own.
///
/// MariaDB 10.11 needs telling. Given `realm = ?` and a range on the next
/// column of an index starting with realm, it prices a `ref` lookup on realm
/// alone (its cost is capped at a few table scans' reads) far below the
/// range on (realm, recorded_at): it then reads every row of the realm up to
/// the wanted ones, where the range starts at them. A page of 100 at depth
/// 900k took 327 times one at depth 0, and the count carried into a period
/// read the realm's rows from its newest back to the period (482 ms). Only
/// `FORCE INDEX` changes that (`USE INDEX` keeps the ref), and with it the
/// planner takes the range.
fn through<E: EntityTrait>(mut select: Select<E>, index: &'static str) -> Select<E> {
    QueryTrait::query(&mut select).force_index(Alias::new(index), IndexHintScope::All);
    select
}

fn status_names(statuses: &[TokenStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

/// The realm, status and count columns of a table of counts: the counter
/// rows, or the daily highs.
struct CountColumns<E: EntityTrait> {
    /// Names the table (and lets calls infer it).
    _table: E,
    realm: E::Column,
    status: E::Column,
    count: E::Column,
    /// The index on (realm, status, time) for MySQL/MariaDB to use, where
    /// it would not on its own ([`through`]).
    index: Option<&'static str>,
}

const ROWS: CountColumns<token_counter::Entity> = CountColumns {
    _table: token_counter::Entity,
    realm: token_counter::Column::Realm,
    status: token_counter::Column::Status,
    count: token_counter::Column::Count,
    index: Some(BY_SERIES),
};

const DAYS: CountColumns<token_counter_day::Entity> = CountColumns {
    _table: token_counter_day::Entity,
    realm: token_counter_day::Column::Realm,
    status: token_counter_day::Column::Status,
    count: token_counter_day::Column::Highest,
    // The primary key; a series holds one row a day.
    index: None,
};

/// Entries of the given realms (None: every realm) and statuses.
fn series<E: EntityTrait>(
    columns: &CountColumns<E>,
    realms: Option<&[String]>,
    statuses: Option<&[TokenStatus]>,
) -> Condition {
    let mut condition = Condition::all();
    if let Some(realms) = realms {
        condition = condition.add(columns.realm.is_in(realms.iter().cloned()));
    }
    if let Some(statuses) = statuses {
        condition = condition.add(columns.status.is_in(status_names(statuses)));
    }
    condition
}

/// The highest count per (realm, status) among the entries matching
/// `condition`.
async fn highest<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    columns: &CountColumns<E>,
    condition: Condition,
) -> Result<BTreeMap<(String, String), i64>> {
    let (realm, status, count) = (columns.realm, columns.status, columns.count);
    let mut find = E::find();
    if let Some(index) = columns.index {
        find = through(find, index);
    }
    let rows: Vec<(String, String, i64)> = find
        .select_only()
        .column(realm)
        .column(status)
        .column_as(count.max(), "highest")
        .filter(condition)
        .group_by(realm)
        .group_by(status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(realm, status, count)| ((realm, status), count))
        .collect())
}

/// One entry per realm and status, from `found` (None where absent).
fn table(
    realms: &[String],
    statuses: &[TokenStatus],
    found: impl Fn(&str, TokenStatus) -> Option<i64>,
) -> Vec<RealmCounts> {
    realms
        .iter()
        .map(|realm| RealmCounts {
            realm: realm.clone(),
            counts: statuses.iter().map(|s| (*s, found(realm, *s))).collect(),
        })
        .collect()
}

impl Tokens {
    /// The realms a report lists: those named, else every realm the caller
    /// sees (and `/:no realm:/` for a caller bound to no realm), by name.
    async fn listed_realms(
        &self,
        actor: &Principal,
        names: Option<&[String]>,
    ) -> Result<Vec<String>> {
        if let Some(names) = names {
            return named_realms(actor, names, "realms");
        }
        let mut listed: Vec<String> = realm::Entity::find()
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|r| r.name)
            .filter(|name| actor.sees(name))
            .collect();
        if actor.realms == RealmAccess::All {
            listed.push(NO_REALM.to_owned());
        }
        listed.sort();
        Ok(listed)
    }

    /// LinOTP show: recorded rows, filtered and ordered, a page at a time.
    pub async fn counters(
        &self,
        actor: &Principal,
        realms: Option<&[String]>,
        status: Option<&[TokenStatus]>,
        since: Option<DateTime<Utc>>,
        order: CounterOrder,
        args: &PageArgs,
    ) -> Result<(Page<Counter>, CounterMatch)> {
        actor.require(Scope::CountersShow)?;
        page::validate(args)?;
        let realms = realm_filter(actor, realms)?;
        let status = status.map(|asked| statuses(Some(asked), &[])).transpose()?;
        let mut condition = series(&ROWS, realms.as_deref(), status.as_deref());
        if let Some(since) = since {
            condition = condition.add(token_counter::Column::RecordedAt.gte(to_micros(since)));
        }
        use token_counter::Column as C;
        let (name, first) = match order.field {
            CounterOrderField::Date => ("token_counters:date", C::RecordedAt),
            CounterOrderField::Event => ("token_counters:event", C::Event),
            CounterOrderField::Realm => ("token_counters:realm", C::Realm),
            CounterOrderField::Status => ("token_counters:status", C::Status),
            CounterOrderField::Count => ("token_counters:count", C::Count),
        };
        let keyset: Keyset<token_counter::Entity> = Keyset {
            name,
            columns: vec![first, C::Id],
            order: order.direction,
        };
        // One realm by date: a range of one index (see `through`).
        let mut base = token_counter::Entity::find();
        match (order.field, realms.as_deref(), status.as_deref()) {
            (CounterOrderField::Date, Some([_]), Some([_])) => base = through(base, BY_SERIES),
            (CounterOrderField::Date, Some([_]), _) => base = through(base, BY_REALM_DATE),
            _ => {}
        }
        let field = order.field;
        let page = page::paginate_from(
            self.db.conn(),
            base,
            condition.clone(),
            &keyset,
            args,
            &page::Models,
            |m: &token_counter::Model| {
                let first = match field {
                    CounterOrderField::Date => KeyPart::Int(m.recorded_at),
                    CounterOrderField::Event => KeyPart::Text(m.event.clone()),
                    CounterOrderField::Realm => KeyPart::Text(m.realm.clone()),
                    CounterOrderField::Status => KeyPart::Text(m.status.clone()),
                    CounterOrderField::Count => KeyPart::Int(m.count),
                };
                vec![first, KeyPart::Int(m.id)]
            },
        )
        .await?;
        Ok((page.map(to_counter), CounterMatch { condition }))
    }

    /// A counter row by id; one of a realm outside the caller's reach is as
    /// absent as a missing one.
    pub async fn counter_by_id(&self, actor: &Principal, id: i64) -> Result<Option<Counter>> {
        actor.require(Scope::CountersShow)?;
        let row = token_counter::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?;
        Ok(row.filter(|r| sees_key(actor, &r.realm)).map(to_counter))
    }

    pub async fn count_counters(&self, query: &CounterMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            token_counter::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// LinOTP period: per realm and status, the highest count in effect at
    /// any moment of [from, to): the rows inside the window, and the value
    /// carried in from the last row before `from`. `from` defaults to the
    /// epoch, `to` to now; statuses to TOTAL.
    pub async fn counts_in_period(
        &self,
        actor: &Principal,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        realms: Option<&[String]>,
        status: Option<&[TokenStatus]>,
    ) -> Result<PeriodReport> {
        actor.require(Scope::CountersPeriod)?;
        let statuses = statuses(status, &[TokenStatus::Total])?;
        let from = from.map_or(DateTime::UNIX_EPOCH, midnight);
        let to = to.map_or_else(|| self.clock.now(), midnight);
        if to <= from {
            return Err(Error::bad_input("to", "to must be after from"));
        }
        let realms = self.listed_realms(actor, realms).await?;
        let (realms, statuses) = (&realms, &statuses);
        let (window_start, window_end) = (to_micros(from), to_micros(to));
        let found = self
            .db
            .read(|tx| async move {
                let tx = &*tx;
                // Whole days from the daily highs; the rest of a last day
                // cut short by `to` = now from its rows.
                let (first_day, last_day) = (day_of(window_start), day_of(window_end));
                let days = series(&DAYS, Some(realms), Some(statuses))
                    .add(token_counter_day::Column::Day.gte(first_day))
                    .add(token_counter_day::Column::Day.lt(last_day));
                let mut found = highest(tx, &DAYS, days).await?;
                let tail_start = window_start.max(i64::from(last_day) * MICROS_PER_DAY);
                if tail_start < window_end {
                    let tail = series(&ROWS, Some(realms), Some(statuses))
                        .add(token_counter::Column::RecordedAt.gte(tail_start))
                        .add(token_counter::Column::RecordedAt.lt(window_end));
                    for (key, count) in highest(tx, &ROWS, tail).await? {
                        let entry = found.entry(key).or_insert(count);
                        *entry = (*entry).max(count);
                    }
                }
                for realm in realms {
                    for status in statuses {
                        let carried: Option<i64> =
                            through(token_counter::Entity::find(), BY_SERIES)
                                .select_only()
                                .column(token_counter::Column::Count)
                                .filter(token_counter::Column::Realm.eq(realm.as_str()))
                                .filter(token_counter::Column::Status.eq(status.as_str()))
                                .filter(token_counter::Column::RecordedAt.lt(window_start))
                                .order_by_desc(token_counter::Column::RecordedAt)
                                .order_by_desc(token_counter::Column::Id)
                                .limit(1)
                                .into_tuple()
                                .one(tx)
                                .await?;
                        if let Some(carried) = carried {
                            let entry = found
                                .entry((realm.clone(), status.as_str().to_owned()))
                                .or_insert(carried);
                            *entry = (*entry).max(carried);
                        }
                    }
                }
                Ok(found)
            })
            .await?;
        Ok(PeriodReport {
            from,
            to,
            realms: table(realms, statuses, |realm, status| {
                found
                    .get(&(realm.to_owned(), status.as_str().to_owned()))
                    .copied()
            }),
        })
    }

    /// LinOTP maximum: the highest count ever recorded per realm and status
    /// (TOTAL unless asked); None where nothing was.
    pub async fn count_maximum(
        &self,
        actor: &Principal,
        realms: Option<&[String]>,
        status: Option<&[TokenStatus]>,
    ) -> Result<Vec<RealmCounts>> {
        actor.require(Scope::CountersMaximum)?;
        let statuses = statuses(status, &[TokenStatus::Total])?;
        let realms = self.listed_realms(actor, realms).await?;
        let days = series(&DAYS, Some(&realms), Some(&statuses));
        let found = highest(self.db.conn(), &DAYS, days).await?;
        Ok(table(&realms, &statuses, |realm, status| {
            found
                .get(&(realm.to_owned(), status.as_str().to_owned()))
                .copied()
        }))
    }

    /// The live counts (every status unless asked), from the tallies.
    pub async fn current_counts(
        &self,
        actor: &Principal,
        realms: Option<&[String]>,
        status: Option<&[TokenStatus]>,
    ) -> Result<Vec<RealmCounts>> {
        actor.require(Scope::CountersShow)?;
        let statuses = statuses(status, &TokenStatus::ALL)?;
        let realms = self.listed_realms(actor, realms).await?;
        let tallies: BTreeMap<String, token_tally::Model> = token_tally::Entity::find()
            .filter(token_tally::Column::Realm.is_in(realms.iter().cloned()))
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|t| (t.realm.clone(), t))
            .collect();
        Ok(table(&realms, &statuses, |realm, status| {
            Some(tallies.get(realm).map_or(0, |t| status.count(t)))
        }))
    }

    /// LinOTP delete_all (`before` None) and delete_before: deletes the
    /// matching rows, writes an audit event, returns how many went.
    pub async fn delete_counters(&self, actor: &Principal, what: Deletion<'_>) -> Result<u64> {
        let (scope, event) = match what.before {
            None => (Scope::CountersDeleteAll, "token_counters.deleted_all"),
            Some(_) => (Scope::CountersDeleteBefore, "token_counters.deleted_before"),
        };
        actor.require(scope)?;
        let realms = realm_filter(actor, what.realms)?;
        let statuses = match (what.all_statuses, what.status) {
            (true, Some(_)) => {
                return Err(Error::bad_input(
                    "allStatuses",
                    "give status or allStatuses, not both",
                ));
            }
            (true, None) => None,
            (false, asked) => Some(statuses(asked, &[TokenStatus::Total])?),
        };
        let mut condition = series(&ROWS, realms.as_deref(), statuses.as_deref());
        let mut days = series(&DAYS, realms.as_deref(), statuses.as_deref());
        if let Some(day) = what.before {
            let before = to_micros(midnight(day));
            condition = condition.add(token_counter::Column::RecordedAt.lt(before));
            // Deletions end at a midnight: they drop whole days.
            days = days.add(token_counter_day::Column::Day.lt(day_of(before)));
        }
        let (condition, days) = (&condition, &days);
        let realm = match realms.as_deref() {
            Some([one]) => Some(one.clone()),
            _ => None,
        };
        let described = realms
            .as_ref()
            .map_or_else(|| "*".to_owned(), |r| r.join(","));
        let (realm, described) = (&realm, &described);
        let now = self.clock.now();
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let deleted = token_counter::Entity::delete_many()
                    .filter(condition.clone())
                    .exec(tx)
                    .await?
                    .rows_affected;
                token_counter_day::Entity::delete_many()
                    .filter(days.clone())
                    .exec(tx)
                    .await?;
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event,
                        realm: realm.as_deref(),
                        resources: vec![Resource {
                            kind: "token_counters".to_owned(),
                            name: described.clone(),
                            id: Some(deleted.to_string()),
                        }],
                    },
                )
                .await?;
                Ok(deleted)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    #[test]
    fn only_mysql_is_told_an_index() {
        let plain = token_counter::Entity::find().filter(token_counter::Column::Realm.eq("a"));
        let hinted = through(plain.clone(), BY_SERIES);
        assert!(
            hinted
                .build(DbBackend::MySql)
                .to_string()
                .contains("FROM `token_counters` FORCE INDEX (`ix_token_counters_series`) WHERE")
        );
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert_eq!(
                hinted.build(backend).to_string(),
                plain.build(backend).to_string()
            );
        }
    }
}
