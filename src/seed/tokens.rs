//! `seed --tokens N`: authentication tokens over an existing directory.
//!
//! Enrolments, assignments, disables, realm moves and removals are spread
//! over the history span and replayed in time order (a heap of each token's
//! next event), and written in bulk as the services would have written them:
//! the tokens in their final state, the live tallies and holder counts, and
//! after every event one counter row per status of each affected realm's
//! reporting policy (a default of TOTAL, ACTIVE, ASSIGNED and TOTAL_USERS is
//! set when the database has none), with each day's highest count. Counting uses the services' own cell
//! arithmetic. Not written, as for users: the activity log. Deterministic:
//! the same directory, spec and `now` give the same rows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Instant;

use anyhow::{bail, ensure};
use chrono::{DateTime, Utc};
use entity::{
    realm, reporting_policy, token, token_counter, token_counter_day, token_holder, token_tally,
    user,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::Db;
use crate::service::tokens::{DEFAULT_POLICY, NO_REALM, TokenStatus, add_to_cell, policy_of};
use crate::service::user_counts::day_of;
use crate::time::to_micros;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub tokens: u32,
    pub seed: u64,
    /// How many days back the first enrolments may be.
    pub days: u32,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Rows per multi-row INSERT (and per transaction).
const BATCH: usize = 2000;
/// Token kinds, by how often.
const KINDS: [(&str, u32); 4] = [("totp", 60), ("hotp", 20), ("push", 15), ("hardware", 5)];
const DEFAULT_STATUSES: [TokenStatus; 4] = [
    TokenStatus::Total,
    TokenStatus::Active,
    TokenStatus::Assigned,
    TokenStatus::TotalUsers,
];

/// A token during the replay.
#[derive(Debug, Clone)]
struct Tok {
    kind: &'static str,
    created_at: i64,
    /// Index into the realms; None: no realm.
    realm: Option<usize>,
    user: Option<i32>,
    active: bool,
    removed: bool,
}

/// Live users per realm, by creation time: (created_at, id).
struct Directory {
    ids: Vec<i32>,
    realms: Vec<String>,
    users: Vec<Vec<(i64, i32)>>,
    statuses: BTreeMap<String, Vec<TokenStatus>>,
}

impl Directory {
    fn name(&self, realm: Option<usize>) -> String {
        realm.map_or_else(|| NO_REALM.to_owned(), |r| self.realms[r].clone())
    }

    /// A user of `realm` who existed at `at`, if any.
    fn user_at(&self, rng: &mut StdRng, realm: usize, at: i64) -> Option<i32> {
        let users = &self.users[realm];
        let existing = users.partition_point(|(created, _)| *created <= at);
        (existing > 0).then(|| users[rng.random_range(0..existing)].1)
    }
}

/// Counts as the services keep them, and the rows waiting to be written.
#[derive(Default)]
struct Counting {
    tallies: BTreeMap<String, token_tally::Model>,
    holders: BTreeMap<(String, i32), i64>,
    /// The highest count per realm, status and day.
    days: BTreeMap<(String, TokenStatus, i32), i64>,
    rows: Vec<token_counter::ActiveModel>,
    written: u64,
}

impl Counting {
    fn tally(&mut self, realm: &str) -> &mut token_tally::Model {
        self.tallies
            .entry(realm.to_owned())
            .or_insert_with(|| token_tally::Model {
                realm: realm.to_owned(),
                active_assigned: 0,
                active_unassigned: 0,
                inactive_assigned: 0,
                inactive_unassigned: 0,
                users: 0,
            })
    }

    /// Moves one token from `before` to `after` (realm name, user, active)
    /// and queues the counter rows of the realms it touched.
    fn event(
        &mut self,
        dir: &Directory,
        event: &str,
        at: i64,
        before: Option<(String, Option<i32>, bool)>,
        after: Option<(String, Option<i32>, bool)>,
    ) {
        let mut touched = BTreeSet::new();
        for (slot, delta) in [(before, -1), (after, 1)] {
            let Some((realm, user, active)) = slot else {
                continue;
            };
            add_to_cell(self.tally(&realm), active, user.is_some(), delta);
            if let (true, Some(user)) = (active, user) {
                let held = self.holders.entry((realm.clone(), user)).or_insert(0);
                let was = *held > 0;
                *held += delta;
                let now = *held > 0;
                self.tally(&realm).users += i64::from(now) - i64::from(was);
            }
            touched.insert(realm);
        }
        for realm in touched {
            let tally = self.tally(&realm).clone();
            for status in dir.statuses.get(&realm).into_iter().flatten() {
                let count = status.count(&tally);
                self.rows.push(token_counter::ActiveModel {
                    recorded_at: Set(at),
                    event: Set(event.to_owned()),
                    realm: Set(realm.clone()),
                    status: Set(status.as_str().to_owned()),
                    count: Set(count),
                    ..Default::default()
                });
                let high = self
                    .days
                    .entry((realm.clone(), *status, day_of(at)))
                    .or_insert(count);
                *high = (*high).max(count);
            }
        }
    }

    async fn flush(&mut self, db: &Db, all: bool) -> anyhow::Result<()> {
        while self.rows.len() >= BATCH || (all && !self.rows.is_empty()) {
            let batch: Vec<_> = self.rows.drain(..self.rows.len().min(BATCH)).collect();
            self.written += batch.len() as u64;
            token_counter::Entity::insert_many(batch)
                .exec_without_returning(db.conn())
                .await?;
        }
        Ok(())
    }
}

fn pick_kind(rng: &mut StdRng) -> &'static str {
    let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (kind, weight) in KINDS {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    KINDS[0].0
}

async fn load_directory(db: &Db) -> anyhow::Result<Directory> {
    let conn = db.conn();
    let realms = realm::Entity::find()
        .order_by_asc(realm::Column::Id)
        .all(conn)
        .await?;
    ensure!(
        !realms.is_empty(),
        "--tokens needs realms and users to assign tokens to: seed them first (or together)"
    );
    let index: BTreeMap<i32, usize> = realms.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut users = vec![Vec::new(); realms.len()];
    let rows: Vec<(i32, i32, i64)> = user::Entity::find()
        .select_only()
        .columns([
            user::Column::Id,
            user::Column::RealmId,
            user::Column::CreatedAt,
        ])
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::CreatedAt)
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    for (id, realm_id, created_at) in rows {
        if let Some(r) = index.get(&realm_id) {
            users[*r].push((created_at, id));
        }
    }
    let has_default = reporting_policy::Entity::find_by_id(DEFAULT_POLICY.to_owned())
        .one(conn)
        .await?
        .is_some();
    if !has_default {
        reporting_policy::Entity::insert(reporting_policy::ActiveModel {
            realm: Set(DEFAULT_POLICY.to_owned()),
            statuses: Set(TokenStatus::encode(&DEFAULT_STATUSES)),
        })
        .exec_without_returning(conn)
        .await?;
    }
    let ids = realms.iter().map(|r| r.id).collect();
    let names: Vec<String> = realms.into_iter().map(|r| r.name).collect();
    let mut statuses = BTreeMap::new();
    for name in names.iter().map(String::as_str).chain([NO_REALM]) {
        statuses.insert(name.to_owned(), policy_of(conn, name).await?);
    }
    Ok(Directory {
        ids,
        realms: names,
        users,
        statuses,
    })
}

/// Generates tokens into a database with a directory and no tokens yet;
/// returns a summary line.
pub async fn generate_tokens(
    db: &Db,
    spec: &TokenSpec,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    ensure!(spec.tokens >= 1, "--tokens must be at least 1");
    ensure!(
        (1..=36_500).contains(&spec.days),
        "--days must be from 1 to 36500"
    );
    let conn = db.conn();
    if token::Entity::find().one(conn).await?.is_some()
        || token_counter::Entity::find().one(conn).await?.is_some()
    {
        bail!("database already has tokens or token counters");
    }
    let started = Instant::now();
    let dir = load_directory(db).await?;
    let now = to_micros(now);
    let span = i64::from(spec.days) * MICROS_PER_DAY;
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x746f_6b65_6e73);
    let mut tokens: Vec<Option<Tok>> = vec![None; spec.tokens as usize];
    let mut heap: BinaryHeap<Reverse<(i64, u32)>> = (0..spec.tokens)
        .map(|i| Reverse((now - span + rng.random_range(0..span), i)))
        .collect();
    let mut counting = Counting::default();
    let mut events = 0u64;
    while let Some(Reverse((at, i))) = heap.pop() {
        let slot = &mut tokens[i as usize];
        let before = slot.as_ref().map(|t| (dir.name(t.realm), t.user, t.active));
        let event = match slot {
            None => {
                let realm = rng
                    .random_bool(0.9)
                    .then(|| rng.random_range(0..dir.realms.len()));
                let user = match realm {
                    Some(r) if rng.random_bool(0.7) => dir.user_at(&mut rng, r, at),
                    _ => None,
                };
                *slot = Some(Tok {
                    kind: pick_kind(&mut rng),
                    created_at: at,
                    realm,
                    user,
                    active: rng.random_bool(0.95),
                    removed: false,
                });
                "token_init"
            }
            Some(tok) => {
                let roll: f64 = rng.random();
                if roll < 0.12 {
                    tok.removed = true;
                    "token_remove"
                } else if roll < 0.45 {
                    tok.active = !tok.active;
                    if tok.active {
                        "token_enable"
                    } else {
                        "token_disable"
                    }
                } else if tok.user.is_some() {
                    tok.user = None;
                    "token_unassign"
                } else if let Some(user) = tok
                    .realm
                    .filter(|_| roll < 0.8)
                    .and_then(|r| dir.user_at(&mut rng, r, at))
                {
                    tok.user = Some(user);
                    "token_assign"
                } else {
                    let to = rng
                        .random_bool(0.9)
                        .then(|| rng.random_range(0..dir.realms.len()));
                    if to == tok.realm {
                        continue;
                    }
                    tok.realm = to;
                    "token_tokenrealm"
                }
            }
        };
        let Some(tok) = slot.as_ref() else { continue };
        let after = (!tok.removed).then(|| (dir.name(tok.realm), tok.user, tok.active));
        counting.event(&dir, event, at, before, after);
        events += 1;
        // About two events per token in all; none after removal or now.
        let next = at + (rng.random::<f64>() * span as f64 / 3.0) as i64;
        if !tok.removed && next < now && rng.random_bool(0.55) {
            heap.push(Reverse((next, i)));
        }
        counting.flush(db, false).await?;
    }
    counting.flush(db, true).await?;

    let survivors: Vec<token::ActiveModel> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.as_ref().filter(|t| !t.removed).map(|t| (i, t)))
        .map(|(i, t)| token::ActiveModel {
            serial: Set(format!("GEN{i:08}")),
            kind: Set(t.kind.to_owned()),
            realm_id: Set(t.realm.map(|r| dir.ids[r])),
            user_id: Set(t.user),
            active: Set(t.active),
            created_at: Set(t.created_at),
            ..Default::default()
        })
        .collect();
    let kept = survivors.len();
    for batch in survivors.chunks(BATCH) {
        token::Entity::insert_many(batch.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    for tally in counting.tallies.values() {
        token_tally::Entity::insert(token_tally::ActiveModel {
            realm: Set(tally.realm.clone()),
            active_assigned: Set(tally.active_assigned),
            active_unassigned: Set(tally.active_unassigned),
            inactive_assigned: Set(tally.inactive_assigned),
            inactive_unassigned: Set(tally.inactive_unassigned),
            users: Set(tally.users),
        })
        .exec_without_returning(conn)
        .await?;
    }
    let holders: Vec<token_holder::ActiveModel> = counting
        .holders
        .iter()
        .filter(|(_, held)| **held > 0)
        .map(|((realm, user), held)| token_holder::ActiveModel {
            realm: Set(realm.clone()),
            user_id: Set(*user),
            tokens: Set(*held),
        })
        .collect();
    for batch in holders.chunks(BATCH) {
        token_holder::Entity::insert_many(batch.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    let days: Vec<token_counter_day::ActiveModel> = counting
        .days
        .iter()
        .map(
            |((realm, status, day), high)| token_counter_day::ActiveModel {
                realm: Set(realm.clone()),
                status: Set(status.as_str().to_owned()),
                day: Set(*day),
                highest: Set(*high),
            },
        )
        .collect();
    for batch in days.chunks(BATCH) {
        token_counter_day::Entity::insert_many(batch.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(format!(
        "generated {} tokens ({} removed), {events} token events, {} counter rows in {:.1}s",
        spec.tokens,
        spec.tokens as usize - kept,
        counting.written,
        started.elapsed().as_secs_f64()
    ))
}
