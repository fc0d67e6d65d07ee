//! The data generator: `headcount seed --users N --changes M`.
//!
//! Writes, in bulk, exactly the rows the services would have written had
//! every change gone through them: realms, datasets, users in their final
//! state (their roles and dataset roles in the row), one `user_changes` chain per
//! user, and the daily count rollup. It replays the whole history in time
//! order (a heap of each user's next change), so ids grow with time as they
//! do in production; memory holds the live users' states, never the rows.
//! Deterministic: the same spec, seed and `now` give the same database.
//! Not written: the activity log (`audit_events`), where the services would
//! add one event per change; nothing that reads user history depends on it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use entity::{dataset, realm, user, user_change, user_count_day, user_count_quarter};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{DynIden, Expr, IntoIden, Query, TableRef, Value};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait};

use super::demo::{DATASET_ROLES, FIRST_NAMES, LAST_NAMES, pick_weighted};
use crate::db::Db;
use crate::progress::Progress;
use crate::service::directory::state::{encode_datasets, encode_roles};
use crate::service::directory::{ChangeType, UserState, UserStatus};
use crate::service::history::OPEN;
use crate::service::user_counts::{self, Counted};
use crate::time::to_micros;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSpec {
    pub users: u32,
    /// History rows in all, the users' creations included (so at least `users`).
    pub changes: u64,
    pub realms: u32,
    pub seed: u64,
    /// How many days back the history starts.
    pub days: u32,
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

const DATASETS_PER_REALM: usize = 5;
const DATASET_NAMES: [&str; 12] = [
    "Invoices",
    "Support Tickets",
    "Product Images",
    "Contracts",
    "Call Transcripts",
    "Claims",
    "Receipts",
    "Street Scenes",
    "Medical Forms",
    "TPS Reports",
    "Customer Emails",
    "Scanned Forms",
];

/// App roles a user may hold beside TEAM_USER, by how often.
const EXTRA_ROLES: &[(&str, u32)] = &[
    ("TEAM_DEVELOPER", 12),
    ("REPORT_GENERATOR", 6),
    ("TEAM_ADMIN", 4),
    ("MANAGE_ALL_DATA", 2),
    ("APP_ADMIN", 1),
];

/// Share of users deleted by the end.
const DELETED_SHARE: f64 = 0.03;
/// Share of users hired during the first weeks (the initial onboarding).
const ONBOARDING_SHARE: f64 = 0.25;
const ONBOARDING_DAYS: f64 = 14.0;
/// Users go dormant only after this long without a change.
const DORMANT_AFTER: i64 = 14 * MICROS_PER_DAY;

/// Bind parameters per INSERT: under SQLite's 32,766 (and PostgreSQL's and
/// MySQL's 65,535) whatever the table's width.
const MAX_PARAMS: usize = 30_000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 20_000;
/// From this many history rows on, progress shows on stderr.
const PROGRESS_ABOVE: u64 = 100_000;

/// Generates history into an empty, migrated database; returns a summary line.
pub async fn generate(db: &Db, spec: &GenerateSpec, now: DateTime<Utc>) -> anyhow::Result<String> {
    spec.validate()?;
    let conn = db.conn();
    if realm::Entity::find().one(conn).await?.is_some()
        || user::Entity::find().one(conn).await?.is_some()
    {
        bail!("database is not empty: the generator needs a directory without realms or users");
    }
    let started = Instant::now();
    let mut generator = Generator::new(spec, to_micros(now))?;
    let mut out = Writer::new(db);
    generator.write_realms(&mut out).await?;

    let mut heap: BinaryHeap<Reverse<(i64, u32)>> = generator
        .plans
        .iter()
        .enumerate()
        .map(|(i, plan)| Reverse((plan.created, i as u32)))
        .collect();
    let mut progress =
        (spec.changes >= PROGRESS_ABOVE).then(|| Progress::new("seed", spec.changes));
    while let Some(Reverse((at, index))) = heap.pop() {
        if let Some(next) = generator.step(index as usize, at, &mut out).await? {
            heap.push(Reverse((next, index)));
        }
        let done = (generator.next_change_id - 1) as u64;
        if let Some(progress) = progress.as_mut().filter(|_| done.is_multiple_of(1000)) {
            progress.set(done, || format!("{done} / {} history rows", spec.changes));
        }
    }
    if let Some(progress) = progress {
        let done = (generator.next_change_id - 1) as u64;
        progress.finish(done, &format!("{done} history rows"));
    }
    ensure!(
        (generator.next_change_id - 1) as u64 == spec.changes,
        "generated {} history rows instead of {}",
        generator.next_change_id - 1,
        spec.changes
    );
    for ((realm_id, day, key), delta) in std::mem::take(&mut generator.count_days) {
        if delta != 0 {
            let row = vec![realm_id.into(), day.into(), key.into(), delta.into()];
            out.push(Table::CountDays, row).await?;
        }
    }
    for ((realm_id, quarter, key), delta) in std::mem::take(&mut generator.count_quarters) {
        if delta != 0 {
            let row = vec![realm_id.into(), quarter.into(), key.into(), delta.into()];
            out.push(Table::CountQuarters, row).await?;
        }
    }
    out.finish().await?;
    if db.backend() == DbBackend::Postgres {
        restart_sequences(db).await?;
    }
    Ok(format!(
        "generated {} realms, {} datasets, {} users ({} deleted), {} history entries over {} days in {:.1}s",
        spec.realms,
        spec.realms as usize * DATASETS_PER_REALM,
        spec.users,
        generator.deleted,
        spec.changes,
        spec.days,
        started.elapsed().as_secs_f64()
    ))
}

impl GenerateSpec {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.users >= 1, "--users must be at least 1");
        ensure!(
            (1..=10_000).contains(&self.realms),
            "--realms must be from 1 to 10000"
        );
        ensure!(
            (1..=36_500).contains(&self.days),
            "--days must be from 1 to 36500"
        );
        ensure!(
            self.changes >= u64::from(self.users),
            "--changes ({}) counts every history row, the {} creations included: it must be at least --users",
            self.changes,
            self.users
        );
        ensure!(
            self.users < i32::MAX as u32 && self.changes < i64::MAX as u64,
            "too many users or changes"
        );
        Ok(())
    }
}

/// Explicit ids do not advance PostgreSQL's sequences: move them past the
/// generated rows so the services' inserts do not collide. (SQLite and MySQL
/// continue after the highest id by themselves.) Fresh statistics too, as
/// autovacuum would gather them soon anyway.
async fn restart_sequences(db: &Db) -> anyhow::Result<()> {
    for table in ["realms", "datasets", "users", "user_changes"] {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        );
        db.conn().execute_unprepared(&sql).await?;
    }
    db.conn().execute_unprepared("ANALYZE").await?;
    Ok(())
}

/// One user's life, decided before the replay.
#[derive(Debug, Clone)]
struct Plan {
    /// Index into the realms (its id is one more).
    realm: u32,
    created: i64,
    /// The deletion time for a deleted user, else the end of the history.
    end: i64,
    /// Changes between the creation and the end (the deletion not included).
    changes: u64,
    deleted: bool,
    /// The first user of a realm is its administrator.
    realm_admin: bool,
}

/// A live user during the replay.
struct Live {
    state: UserState,
    roles_json: String,
    datasets_json: String,
    created: i64,
    last: i64,
    /// Changes still to come, the deletion not included.
    remaining: u64,
}

struct Generator {
    rng: StdRng,
    realms: u32,
    start: i64,
    plans: Vec<Plan>,
    live: Vec<Option<Live>>,
    next_change_id: i64,
    deleted: u32,
    /// (realm id, day, count key) → delta.
    count_days: BTreeMap<(i32, i32, String), i64>,
    count_quarters: BTreeMap<(i32, i32, String), i64>,
}

impl Generator {
    fn new(spec: &GenerateSpec, now: i64) -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let start = now - i64::from(spec.days) * MICROS_PER_DAY;
        // Users arrive from an hour after the realms exist until an hour
        // before the last change, which is a minute before now.
        let end = now - 60 * MICROS_PER_SECOND;
        let first = start + MICROS_PER_HOUR;
        let window = (end - MICROS_PER_HOUR - first) as f64;
        let onboarding = (ONBOARDING_DAYS / f64::from(spec.days)).min(0.1);

        // Realm i weighs realms - i: the first realm is the biggest.
        let realm_weights: Vec<(u32, u32)> =
            (0..spec.realms).map(|r| (r, spec.realms - r)).collect();
        let mut plans: Vec<(Plan, f64)> = (0..spec.users)
            .map(|_| {
                let realm = pick_weighted(&mut rng, &realm_weights);
                // An onboarding wave, then hires ever rarer (linearly
                // decreasing density): more users early than late.
                let u: f64 = rng.random();
                let at = if rng.random_bool(ONBOARDING_SHARE) {
                    u * onboarding
                } else {
                    1.0 - (1.0 - u).sqrt()
                };
                let activity = (standard_normal(&mut rng)).exp();
                let plan = Plan {
                    realm,
                    created: first + (at * window) as i64,
                    end,
                    changes: 0,
                    deleted: false,
                    realm_admin: false,
                };
                (plan, activity)
            })
            .collect();
        // Ids in creation order, as the services assign them.
        plans.sort_by_key(|(plan, _)| plan.created);
        let mut has_admin = vec![false; spec.realms as usize];
        for (plan, _) in &mut plans {
            let seen = &mut has_admin[plan.realm as usize];
            plan.realm_admin = !*seen;
            *seen = true;
        }

        // A few deletions (each one a history row), never a realm's admin.
        let users = plans.len();
        let room = spec.changes - users as u64;
        let wanted = ((users as f64 * DELETED_SHARE).round() as u64).min(room) as usize;
        let mut deleted = 0;
        for i in sample(&mut rng, users, wanted) {
            let plan = &mut plans[i].0;
            if plan.realm_admin {
                continue;
            }
            let u: f64 = rng.random();
            plan.deleted = true;
            plan.end = plan.created + ((plan.end - plan.created) as f64 * (0.2 + 0.8 * u)) as i64;
            deleted += 1;
        }

        // The other changes go to users at random, in proportion to how long
        // they exist and how active they are (log-normal: most users change
        // a few times, some very often).
        let extra = room - deleted;
        let mut cumulative = Vec::with_capacity(users);
        let mut total = 0.0;
        for (plan, activity) in &plans {
            total += (plan.end - plan.created) as f64 * activity;
            cumulative.push(total);
        }
        for _ in 0..extra {
            let x = rng.random::<f64>() * total;
            let i = cumulative.partition_point(|c| *c <= x).min(users - 1);
            plans[i].0.changes += 1;
        }
        let plans: Vec<Plan> = plans.into_iter().map(|(plan, _)| plan).collect();
        for plan in &plans {
            // Every change needs its own microsecond.
            ensure!(
                (plan.end - plan.created) as u64 > plan.changes + 1,
                "{} changes do not fit in {} days",
                spec.changes,
                spec.days
            );
        }
        Ok(Self {
            rng,
            realms: spec.realms,
            start,
            live: (0..plans.len()).map(|_| None).collect(),
            plans,
            next_change_id: 1,
            deleted: 0,
            count_days: BTreeMap::new(),
            count_quarters: BTreeMap::new(),
        })
    }

    fn realm_name(realm: u32) -> String {
        format!("realm-{}", realm + 1)
    }

    fn dataset_id(realm: u32, k: usize) -> i32 {
        (realm as usize * DATASETS_PER_REALM + k + 1) as i32
    }

    fn dataset_name(realm: u32, k: usize) -> &'static str {
        DATASET_NAMES[(realm as usize * DATASETS_PER_REALM + k) % DATASET_NAMES.len()]
    }

    /// Realms at the start of the history, their datasets minutes later;
    /// seat limits a little above the users each realm ends with.
    async fn write_realms(&self, out: &mut Writer<'_>) -> anyhow::Result<()> {
        let mut live_users = vec![0i64; self.realms as usize];
        for plan in self.plans.iter().filter(|p| !p.deleted) {
            live_users[plan.realm as usize] += 1;
        }
        for realm in 0..self.realms {
            let seats = (live_users[realm as usize] * 23 / 20 + 9) / 10 * 10;
            let created = self.start + i64::from(realm) * 10 * 60 * MICROS_PER_SECOND;
            let row = vec![
                (realm as i32 + 1).into(),
                Self::realm_name(realm).into(),
                Some(i32::try_from(seats).unwrap_or(i32::MAX)).into(),
                created.into(),
            ];
            out.push(Table::Realms, row).await?;
            for k in 0..DATASETS_PER_REALM {
                let row = vec![
                    Self::dataset_id(realm, k).into(),
                    (realm as i32 + 1).into(),
                    Self::dataset_name(realm, k).into(),
                    (created + (k as i64 + 1) * 60 * MICROS_PER_SECOND).into(),
                ];
                out.push(Table::Datasets, row).await?;
            }
        }
        Ok(())
    }

    /// Writes user `index`'s next history row, dated `at`; returns when the
    /// one after it is due, if any.
    async fn step(
        &mut self,
        index: usize,
        at: i64,
        out: &mut Writer<'_>,
    ) -> anyhow::Result<Option<i64>> {
        let plan = self.plans[index].clone();
        let user_id = index as i32 + 1;
        let (mut live, before, changes, deleted) = match self.live[index].take() {
            None => {
                let state = self.initial_state(&plan, user_id);
                let live = Live {
                    roles_json: encode_roles(&state.roles),
                    datasets_json: encode_datasets(&state.datasets),
                    state,
                    created: at,
                    last: at,
                    remaining: plan.changes,
                };
                (live, None, vec![ChangeType::Created], false)
            }
            Some(mut live) if live.remaining > 0 => {
                live.remaining -= 1;
                let before = (
                    live.state.clone(),
                    live.roles_json.clone(),
                    live.datasets_json.clone(),
                );
                let offboarding = plan.deleted && live.remaining == 0;
                let changes = self.change(&plan, user_id, &mut live, at, offboarding);
                if changes.contains(&ChangeType::AppRole) {
                    live.roles_json = encode_roles(&live.state.roles);
                }
                if changes.contains(&ChangeType::DatasetRole) {
                    live.datasets_json = encode_datasets(&live.state.datasets);
                }
                (live, Some(before), changes, false)
            }
            Some(live) => {
                let before = (
                    live.state.clone(),
                    live.roles_json.clone(),
                    live.datasets_json.clone(),
                );
                (live, Some(before), vec![ChangeType::Deleted], true)
            }
        };
        live.last = at;

        let next = self.next_time(&plan, &live, at, deleted);
        let realm_id = plan.realm as i32 + 1;
        self.count(
            realm_id,
            at,
            before.as_ref().map(|b| &b.0),
            (!deleted).then_some(&live.state),
        );
        let (previous_status, previous_roles, previous_datasets) = match before {
            Some((state, roles, datasets)) => {
                (Some(state.status.as_str().to_owned()), roles, datasets)
            }
            None => (None, "[]".to_owned(), "[]".to_owned()),
        };
        let row = vec![
            self.next_change_id.into(),
            at.into(),
            next.unwrap_or(OPEN).into(),
            user_id.into(),
            realm_id.into(),
            live.state.email.clone().into(),
            live.state.name.clone().into(),
            live.created.into(),
            Option::<i32>::None.into(),
            Some("generator".to_owned()).into(),
            previous_status.into(),
            live.state.status.as_str().to_owned().into(),
            previous_roles.into(),
            live.roles_json.clone().into(),
            previous_datasets.into(),
            live.datasets_json.clone().into(),
            ChangeType::mask(&changes).into(),
            deleted.into(),
        ];
        self.next_change_id += 1;
        out.push(Table::Changes, row).await?;

        if next.is_some() {
            self.live[index] = Some(live);
        } else {
            self.deleted += u32::from(deleted);
            write_user(out, user_id, realm_id, &live, deleted).await?;
        }
        Ok(next)
    }

    /// The date of the user's next row: the remaining changes fall uniformly
    /// between now and the end (drawn one at a time as the next of the
    /// remaining order statistics), then comes the deletion, if any.
    fn next_time(&mut self, plan: &Plan, live: &Live, at: i64, deleted: bool) -> Option<i64> {
        let left = live.remaining;
        if left > 0 {
            let u: f64 = self.rng.random();
            let fraction = 1.0 - u.powf(1.0 / left as f64);
            let next = at + ((plan.end - at) as f64 * fraction) as i64;
            // Strictly later, and leaving a microsecond for each one after.
            Some(next.clamp(at + 1, plan.end - left as i64))
        } else if plan.deleted && !deleted {
            Some(plan.end)
        } else {
            None
        }
    }

    /// Adds a change's count deltas to the daily rollup.
    fn count(
        &mut self,
        realm_id: i32,
        at: i64,
        before: Option<&UserState>,
        after: Option<&UserState>,
    ) {
        let before_roles = before.map(UserState::roles_vec).unwrap_or_default();
        let after_roles = after.map(UserState::roles_vec).unwrap_or_default();
        let deltas = user_counts::deltas(
            before.map(|s| Counted {
                status: s.status,
                roles: &before_roles,
            }),
            after.map(|s| Counted {
                status: s.status,
                roles: &after_roles,
            }),
        );
        let day = user_counts::day_of(at);
        let quarter = user_counts::quarter_of(at);
        for (key, delta) in deltas {
            if user_counts::is_status_key(&key) {
                *self
                    .count_quarters
                    .entry((realm_id, quarter, key.clone()))
                    .or_default() += delta;
            }
            *self.count_days.entry((realm_id, day, key)).or_default() += delta;
        }
    }

    fn initial_state(&mut self, plan: &Plan, user_id: i32) -> UserState {
        let first = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&"Alex");
        let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Smith");
        let mut state = UserState {
            email: email(first, last, user_id, plan.realm),
            name: format!("{first} {last}"),
            status: UserStatus::Active,
            roles: Default::default(),
            datasets: BTreeMap::new(),
        };
        if plan.realm_admin {
            for role in ["APP_ADMIN", "TEAM_ADMIN", "TEAM_USER"] {
                state.roles.insert(role.to_owned());
            }
            for k in 0..2 {
                self.grant(&mut state, plan.realm, k, "MANAGER");
            }
            return state;
        }
        // Accounts provisioned ahead of a start date begin suspended.
        if self.rng.random_bool(0.015) {
            state.status = UserStatus::Suspended;
        }
        if self.rng.random_bool(0.95) {
            state.roles.insert("TEAM_USER".to_owned());
        }
        if state.roles.is_empty() || self.rng.random_bool(0.25) {
            state
                .roles
                .insert(pick_weighted(&mut self.rng, EXTRA_ROLES).to_owned());
        }
        if self.rng.random_bool(0.55) {
            let grants = pick_weighted(&mut self.rng, &[(1usize, 70), (2, 22), (3, 8)]);
            let all: Vec<usize> = (0..DATASETS_PER_REALM).collect();
            let chosen: Vec<usize> = all
                .choose_multiple(&mut self.rng, grants)
                .copied()
                .collect();
            for k in chosen {
                let role = pick_weighted(&mut self.rng, DATASET_ROLES);
                self.grant(&mut state, plan.realm, k, role);
            }
        }
        state
    }

    fn grant(&self, state: &mut UserState, realm: u32, k: usize, role: &str) {
        state.datasets.insert(
            Self::dataset_id(realm, k),
            (Self::dataset_name(realm, k).to_owned(), role.to_owned()),
        );
    }

    /// Applies one random change that changes something; returns what changed.
    fn change(
        &mut self,
        plan: &Plan,
        user_id: i32,
        live: &mut Live,
        at: i64,
        offboarding: bool,
    ) -> Vec<ChangeType> {
        let before = live.state.clone();
        // Leavers are mostly suspended and stripped of their data access
        // before their account is deleted.
        if offboarding && before.status != UserStatus::Suspended && self.rng.random_bool(0.7) {
            live.state.status = UserStatus::Suspended;
            live.state.datasets.clear();
            return before.diff(&live.state);
        }
        // Suspended and dormant users mostly come back next.
        let comeback = match before.status {
            UserStatus::Suspended => 0.6,
            UserStatus::Dormant => 0.5,
            UserStatus::Active => 0.0,
        };
        if self.rng.random_bool(comeback) {
            live.state.status = UserStatus::Active;
            return before.diff(&live.state);
        }
        for _ in 0..20 {
            let action = pick_weighted(&mut self.rng, ACTIONS);
            self.apply(action, plan, user_id, live, at);
            let changes = before.diff(&live.state);
            if !changes.is_empty() {
                return changes;
            }
        }
        // A rename always changes something.
        self.apply(Action::Rename, plan, user_id, live, at);
        before.diff(&live.state)
    }

    /// Applies `action` to the state; it may change nothing (then the caller
    /// draws again).
    fn apply(&mut self, action: Action, plan: &Plan, user_id: i32, live: &mut Live, at: i64) {
        let rng = &mut self.rng;
        let state = &mut live.state;
        match action {
            Action::Suspend => state.status = UserStatus::Suspended,
            Action::Reactivate => state.status = UserStatus::Active,
            Action::GoDormant => {
                if state.status == UserStatus::Active && at - live.last >= DORMANT_AFTER {
                    state.status = UserStatus::Dormant;
                }
            }
            Action::AddRole => {
                let role = pick_weighted(rng, EXTRA_ROLES);
                state.roles.insert(role.to_owned());
            }
            Action::RemoveRole => {
                let held: Vec<String> = state
                    .roles
                    .iter()
                    .filter(|r| *r != "TEAM_USER")
                    .cloned()
                    .collect();
                if let Some(role) = held.choose(rng) {
                    state.roles.remove(role);
                }
            }
            Action::ChangeTeam => {
                // A move to another team replaces the role set as a whole.
                let mut roles = std::collections::BTreeSet::from(["TEAM_USER".to_owned()]);
                if rng.random_bool(0.5) {
                    roles.insert(pick_weighted(rng, EXTRA_ROLES).to_owned());
                }
                state.roles = roles;
            }
            Action::Grant => {
                let free: Vec<usize> = (0..DATASETS_PER_REALM)
                    .filter(|k| {
                        !state
                            .datasets
                            .contains_key(&Self::dataset_id(plan.realm, *k))
                    })
                    .collect();
                if let Some(&k) = free.choose(rng) {
                    let role = pick_weighted(rng, DATASET_ROLES);
                    state.datasets.insert(
                        Self::dataset_id(plan.realm, k),
                        (
                            Self::dataset_name(plan.realm, k).to_owned(),
                            role.to_owned(),
                        ),
                    );
                }
            }
            Action::Revoke => {
                let held: Vec<i32> = state.datasets.keys().copied().collect();
                if let Some(id) = held.choose(rng) {
                    state.datasets.remove(id);
                }
            }
            Action::ChangeGrant => {
                let held: Vec<i32> = state.datasets.keys().copied().collect();
                if let Some(id) = held.choose(rng) {
                    let role = pick_weighted(rng, DATASET_ROLES).to_owned();
                    if let Some(grant) = state.datasets.get_mut(id) {
                        grant.1 = role;
                    }
                }
            }
            Action::Rename => {
                // A new last name (marriage, a typo fixed); the email follows
                // half of the time.
                let first = state.name.split(' ').next().unwrap_or("Alex").to_owned();
                let current = state.name.rsplit(' ').next().unwrap_or_default().to_owned();
                let others: Vec<&str> = LAST_NAMES
                    .iter()
                    .copied()
                    .filter(|l| *l != current)
                    .collect();
                let last = *others.choose(rng).unwrap_or(&"Smith");
                state.name = format!("{first} {last}");
                if rng.random_bool(0.5) {
                    state.email = email(&first, last, user_id, plan.realm);
                }
            }
        }
    }
}

/// What can happen to a live user, by how often.
#[derive(Debug, Clone, Copy)]
enum Action {
    Suspend,
    Reactivate,
    GoDormant,
    AddRole,
    RemoveRole,
    ChangeTeam,
    Grant,
    Revoke,
    ChangeGrant,
    Rename,
}

const ACTIONS: &[(Action, u32)] = &[
    (Action::Suspend, 5),
    (Action::Reactivate, 4),
    (Action::GoDormant, 10),
    (Action::AddRole, 10),
    (Action::RemoveRole, 7),
    (Action::ChangeTeam, 4),
    (Action::Grant, 10),
    (Action::Revoke, 12),
    (Action::ChangeGrant, 8),
    (Action::Rename, 4),
];

/// `first.last.ID@realm-N.example.com`: the id keeps every email unique in
/// its realm, whatever the renames.
fn email(first: &str, last: &str, user_id: i32, realm: u32) -> String {
    format!(
        "{}.{}.{user_id}@{}.example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        Generator::realm_name(realm)
    )
}

/// A standard normal draw (Box–Muller).
pub(super) fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The user's final row, app roles and dataset roles included, encoded as
/// in the last history row (deleted users keep theirs, as the services do).
async fn write_user(
    out: &mut Writer<'_>,
    user_id: i32,
    realm_id: i32,
    live: &Live,
    deleted: bool,
) -> anyhow::Result<()> {
    let state = &live.state;
    let row = vec![
        user_id.into(),
        realm_id.into(),
        state.email.clone().into(),
        state.name.clone().into(),
        state.status.as_str().to_owned().into(),
        live.roles_json.clone().into(),
        live.datasets_json.clone().into(),
        live.created.into(),
        live.last.into(),
        deleted.then_some(live.last).into(),
        (if deleted { user_id } else { 0 }).into(),
    ];
    out.push(Table::Users, row).await
}

/// The tables written, each buffered separately.
#[derive(Debug, Clone, Copy)]
enum Table {
    Realms,
    Datasets,
    Users,
    Changes,
    CountDays,
    CountQuarters,
}

/// Rows of one table waiting for a multi-row INSERT.
struct Buffer {
    table: TableRef,
    columns: Vec<DynIden>,
    rows: Vec<Vec<Value>>,
    capacity: usize,
}

impl Buffer {
    fn new<E: EntityTrait>(entity: E, columns: Vec<E::Column>) -> Self {
        let capacity = MAX_PARAMS / columns.len();
        Self {
            table: entity.table_ref(),
            columns: columns.into_iter().map(IntoIden::into_iden).collect(),
            rows: Vec::with_capacity(capacity),
            capacity,
        }
    }
}

/// Buffers rows per table and writes them in multi-row INSERTs, committing
/// every few thousand rows so no transaction grows without bound.
struct Writer<'a> {
    db: &'a Db,
    tx: Option<DatabaseTransaction>,
    in_transaction: usize,
    buffers: Vec<Buffer>,
}

impl<'a> Writer<'a> {
    fn new(db: &'a Db) -> Self {
        use user_change::Column as C;
        let buffers = vec![
            Buffer::new(
                realm::Entity,
                vec![
                    realm::Column::Id,
                    realm::Column::Name,
                    realm::Column::SeatLimit,
                    realm::Column::CreatedAt,
                ],
            ),
            Buffer::new(
                dataset::Entity,
                vec![
                    dataset::Column::Id,
                    dataset::Column::RealmId,
                    dataset::Column::Name,
                    dataset::Column::CreatedAt,
                ],
            ),
            Buffer::new(
                user::Entity,
                vec![
                    user::Column::Id,
                    user::Column::RealmId,
                    user::Column::Email,
                    user::Column::Name,
                    user::Column::Status,
                    user::Column::Roles,
                    user::Column::Datasets,
                    user::Column::CreatedAt,
                    user::Column::UpdatedAt,
                    user::Column::DeletedAt,
                    user::Column::LiveKey,
                ],
            ),
            Buffer::new(
                user_change::Entity,
                vec![
                    C::Id,
                    C::ChangedAt,
                    C::ValidTo,
                    C::UserId,
                    C::RealmId,
                    C::UserEmail,
                    C::UserName,
                    C::UserCreatedAt,
                    C::ActorTokenId,
                    C::ActorName,
                    C::PreviousStatus,
                    C::Status,
                    C::PreviousRoles,
                    C::Roles,
                    C::PreviousDatasets,
                    C::Datasets,
                    C::ChangeMask,
                    C::Deleted,
                ],
            ),
            Buffer::new(
                user_count_day::Entity,
                vec![
                    user_count_day::Column::RealmId,
                    user_count_day::Column::Day,
                    user_count_day::Column::CountKey,
                    user_count_day::Column::Delta,
                ],
            ),
            Buffer::new(
                user_count_quarter::Entity,
                vec![
                    user_count_quarter::Column::RealmId,
                    user_count_quarter::Column::Quarter,
                    user_count_quarter::Column::CountKey,
                    user_count_quarter::Column::Delta,
                ],
            ),
        ];
        Self {
            db,
            tx: None,
            in_transaction: 0,
            buffers,
        }
    }

    /// Buffers a row (values in the table's column order).
    async fn push(&mut self, table: Table, row: Vec<Value>) -> anyhow::Result<()> {
        let buffer = &mut self.buffers[table as usize];
        buffer.rows.push(row);
        if buffer.rows.len() >= buffer.capacity {
            self.flush(table as usize).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, index: usize) -> anyhow::Result<()> {
        let buffer = &mut self.buffers[index];
        if buffer.rows.is_empty() {
            return Ok(());
        }
        let count = buffer.rows.len();
        let mut insert = Query::insert();
        insert
            .into_table(buffer.table.clone())
            .columns(buffer.columns.iter().cloned());
        for row in buffer.rows.drain(..) {
            insert.values(row.into_iter().map(Expr::val))?;
        }
        if self.tx.is_none() {
            self.tx = Some(self.db.begin_write().await?);
        }
        let tx = self.tx.as_ref().context("no transaction")?;
        tx.execute(&insert).await?;
        self.in_transaction += count;
        if self.in_transaction >= ROWS_PER_TRANSACTION {
            self.commit().await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        self.in_transaction = 0;
        Ok(())
    }

    /// Writes what is left and commits.
    async fn finish(&mut self) -> anyhow::Result<()> {
        for index in 0..self.buffers.len() {
            self.flush(index).await?;
        }
        self.commit().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::path::PathBuf;
    use std::sync::Arc;

    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::clock::SystemClock;
    use crate::service::directory::NewUser;
    use crate::service::directory::state::{decode_datasets, decode_roles};
    use crate::service::{Principal, Services};

    /// A migrated SQLite database in a temp file, removed on drop.
    struct TempDb {
        db: Option<Db>,
        path: PathBuf,
    }

    impl TempDb {
        async fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "headcount-generate-{name}-{}.db",
                std::process::id()
            ));
            remove_files(&path);
            let db = Db::connect(
                &format!("sqlite://{}?mode=rwc", path.display()),
                Default::default(),
            )
            .await
            .unwrap();
            db.migrate().await.unwrap();
            Self { db: Some(db), path }
        }

        fn db(&self) -> &Db {
            self.db.as_ref().unwrap()
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            drop(self.db.take());
            remove_files(&self.path);
        }
    }

    fn remove_files(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.to_path_buf().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    fn spec(seed: u64) -> GenerateSpec {
        GenerateSpec {
            users: 300,
            changes: 3_000,
            realms: 3,
            seed,
            days: 365,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn state_of(email: &str, name: &str, status: &str, roles: &str, datasets: &str) -> UserState {
        UserState {
            email: email.to_owned(),
            name: name.to_owned(),
            status: status.parse().unwrap(),
            roles: decode_roles(roles).into_iter().collect(),
            datasets: decode_datasets(datasets)
                .into_iter()
                .map(|d| (d.dataset_id, (d.dataset_name, d.role)))
                .collect(),
        }
    }

    /// A digest of every generated table, in a fixed order.
    async fn checksum(db: &Db) -> String {
        let conn = db.conn();
        let mut all = String::new();
        let realms = realm::Entity::find()
            .order_by_asc(realm::Column::Id)
            .all(conn)
            .await
            .unwrap();
        let datasets = dataset::Entity::find()
            .order_by_asc(dataset::Column::Id)
            .all(conn)
            .await
            .unwrap();
        let users = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .all(conn)
            .await
            .unwrap();
        let changes = user_change::Entity::find()
            .order_by_asc(user_change::Column::Id)
            .all(conn)
            .await
            .unwrap();
        let days = user_count_day::Entity::find()
            .order_by_asc(user_count_day::Column::RealmId)
            .order_by_asc(user_count_day::Column::Day)
            .order_by_asc(user_count_day::Column::CountKey)
            .all(conn)
            .await
            .unwrap();
        all.push_str(&format!(
            "{realms:?}{datasets:?}{users:?}{changes:?}{days:?}"
        ));
        format!("{:x}", Sha256::digest(all.as_bytes()))
    }

    #[tokio::test]
    async fn generated_history_is_what_the_services_would_write() {
        let temp = TempDb::new("main").await;
        let db = temp.db();
        let conn = db.conn();
        let summary = generate(db, &spec(7), now()).await.unwrap();
        assert!(summary.contains("300 users"), "{summary}");

        assert_eq!(realm::Entity::find().count(conn).await.unwrap(), 3);
        assert_eq!(dataset::Entity::find().count(conn).await.unwrap(), 15);
        assert_eq!(user::Entity::find().count(conn).await.unwrap(), 300);
        assert_eq!(
            user_change::Entity::find().count(conn).await.unwrap(),
            3_000
        );

        let realms = realm::Entity::find().all(conn).await.unwrap();
        let names: BTreeSet<String> = realms.iter().map(|r| r.name.clone()).collect();
        assert_eq!(
            names,
            BTreeSet::from(["realm-1".into(), "realm-2".into(), "realm-3".into()])
        );
        let dataset_names: HashMap<i32, (i32, String)> = dataset::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.id, (d.realm_id, d.name)))
            .collect();

        let changes = user_change::Entity::find()
            .order_by_asc(user_change::Column::UserId)
            .order_by_asc(user_change::Column::ChangedAt)
            .order_by_asc(user_change::Column::Id)
            .all(conn)
            .await
            .unwrap();
        let users: HashMap<i32, user::Model> = user::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        // The roles held now, decoded from the users rows.
        let roles: HashMap<i32, BTreeSet<String>> = users
            .values()
            .map(|u| (u.id, decode_roles(&u.roles).into_iter().collect()))
            .filter(|(_, r): &(i32, BTreeSet<String>)| !r.is_empty())
            .collect();
        let grants: HashMap<i32, BTreeMap<i32, String>> = users
            .values()
            .map(|u| {
                let held = decode_datasets(&u.datasets)
                    .into_iter()
                    .map(|d| (d.dataset_id, d.role))
                    .collect();
                (u.id, held)
            })
            .filter(|(_, g): &(i32, BTreeMap<i32, String>)| !g.is_empty())
            .collect();

        let start = to_micros(now()) - 365 * MICROS_PER_DAY;
        let mut chains: BTreeMap<i32, Vec<&user_change::Model>> = BTreeMap::new();
        for change in &changes {
            chains.entry(change.user_id).or_default().push(change);
        }
        assert_eq!(chains.len(), 300);
        let created = ChangeType::mask(&[ChangeType::Created]);
        let deleted_mask = ChangeType::mask(&[ChangeType::Deleted]);
        for (user_id, chain) in &chains {
            let first = chain[0];
            let user = &users[user_id];
            assert_eq!(first.change_mask, created, "user {user_id}");
            assert_eq!(first.previous_status, None);
            assert_eq!(first.previous_roles, "[]");
            assert_eq!(first.previous_datasets, "[]");
            assert!(!first.deleted);
            assert_eq!(first.changed_at, user.created_at);
            assert!(first.changed_at > start && first.changed_at < to_micros(now()));
            for pair in chain.windows(2) {
                let (prior, this) = (pair[0], pair[1]);
                assert!(this.changed_at > prior.changed_at, "user {user_id}");
                assert_eq!(prior.valid_to, this.changed_at);
                assert!(!prior.deleted, "DELETED before the last row of {user_id}");
                assert_eq!(this.previous_status.as_deref(), Some(prior.status.as_str()));
                assert_eq!(this.previous_roles, prior.roles);
                assert_eq!(this.previous_datasets, prior.datasets);
                let before = state_of(
                    &prior.user_email,
                    &prior.user_name,
                    &prior.status,
                    &prior.roles,
                    &prior.datasets,
                );
                let after = state_of(
                    &this.user_email,
                    &this.user_name,
                    &this.status,
                    &this.roles,
                    &this.datasets,
                );
                if this.deleted {
                    assert_eq!(this.change_mask, deleted_mask);
                    assert_eq!(before, after);
                } else {
                    let diff = before.diff(&after);
                    assert!(!diff.is_empty(), "a change of {user_id} changes nothing");
                    assert_eq!(ChangeType::from_mask(this.change_mask), diff);
                }
            }
            for change in chain {
                assert_eq!(change.user_created_at, user.created_at);
                assert_eq!(change.realm_id, user.realm_id);
                assert_eq!(change.actor_token_id, None);
                assert_eq!(change.actor_name.as_deref(), Some("generator"));
                assert_eq!(change.user_email, change.user_email.to_lowercase());
                for grant in decode_datasets(&change.datasets) {
                    let (realm_id, name) = &dataset_names[&grant.dataset_id];
                    assert_eq!((*realm_id, name), (user.realm_id, &grant.dataset_name));
                }
            }
            let last = chain[chain.len() - 1];
            assert_eq!(last.valid_to, OPEN);
            assert_eq!(user.email, last.user_email);
            assert_eq!(user.name, last.user_name);
            assert_eq!(user.status, last.status);
            assert_eq!(user.updated_at, last.changed_at);
            if last.deleted {
                assert_eq!(user.deleted_at, Some(last.changed_at));
                assert_eq!(user.live_key, user.id);
            } else {
                assert_eq!(user.deleted_at, None);
                assert_eq!(user.live_key, 0);
            }
            // The row holds the last history row's roles, encoded alike.
            assert_eq!(user.roles, last.roles, "user {user_id}");
            assert_eq!(user.datasets, last.datasets, "user {user_id}");
        }

        // Ids follow time, as when the services write history as it happens.
        let mut by_id = changes.clone();
        by_id.sort_by_key(|c| c.id);
        assert_eq!(by_id.first().map(|c| c.id), Some(1));
        assert!(by_id.windows(2).all(|w| w[0].changed_at <= w[1].changed_at));
        let mut user_ids: Vec<&user::Model> = users.values().collect();
        user_ids.sort_by_key(|u| u.id);
        assert!(
            user_ids
                .windows(2)
                .all(|w| w[0].created_at <= w[1].created_at)
        );

        // The rollup is exactly the deltas of the history.
        let mut expected: BTreeMap<(i32, i32, String), i64> = BTreeMap::new();
        let mut expected_quarters: BTreeMap<(i32, i32, String), i64> = BTreeMap::new();
        for change in &changes {
            let previous_roles = decode_roles(&change.previous_roles);
            let roles = decode_roles(&change.roles);
            let before = change.previous_status.as_ref().map(|s| Counted {
                status: s.parse().unwrap(),
                roles: &previous_roles,
            });
            let after = (!change.deleted).then(|| Counted {
                status: change.status.parse().unwrap(),
                roles: &roles,
            });
            let day = user_counts::day_of(change.changed_at);
            let quarter = user_counts::quarter_of(change.changed_at);
            for (key, delta) in user_counts::deltas(before, after) {
                if user_counts::is_status_key(&key) {
                    *expected_quarters
                        .entry((change.realm_id, quarter, key.clone()))
                        .or_default() += delta;
                }
                *expected.entry((change.realm_id, day, key)).or_default() += delta;
            }
        }
        expected.retain(|_, d| *d != 0);
        expected_quarters.retain(|_, d| *d != 0);
        let stored_quarters: BTreeMap<(i32, i32, String), i64> = user_count_quarter::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|q| ((q.realm_id, q.quarter, q.count_key), q.delta))
            .collect();
        assert_eq!(stored_quarters, expected_quarters);
        let stored: BTreeMap<(i32, i32, String), i64> = user_count_day::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|d| ((d.realm_id, d.day, d.count_key), d.delta))
            .collect();
        assert_eq!(stored, expected);

        // A realistic mix.
        let deleted = users.values().filter(|u| u.deleted_at.is_some()).count();
        assert!((3..=15).contains(&deleted), "{deleted} deleted");
        let live: Vec<&user::Model> = users.values().filter(|u| u.deleted_at.is_none()).collect();
        let with = |role: &str| {
            live.iter()
                .filter(|u| roles.get(&u.id).is_some_and(|r| r.contains(role)))
                .count()
        };
        assert!(
            with("TEAM_USER") * 10 > live.len() * 8,
            "TEAM_USER is the rule"
        );
        assert!(with("APP_ADMIN") * 10 < live.len(), "admins are few");
        let granted = live.iter().filter(|u| grants.contains_key(&u.id)).count();
        assert!(
            (live.len() * 4..=live.len() * 8).contains(&(granted * 10)),
            "{granted} of {} with dataset roles",
            live.len()
        );
        for status in ["ACTIVE", "DORMANT", "SUSPENDED"] {
            assert!(live.iter().any(|u| u.status == status), "nobody {status}");
        }
        assert!(live.iter().filter(|u| u.status == "ACTIVE").count() * 2 > live.len());
        let lengths: Vec<usize> = chains.values().map(Vec::len).collect();
        let (shortest, longest) = (lengths.iter().min().unwrap(), lengths.iter().max().unwrap());
        assert!(
            *longest >= 3 * shortest.max(&3),
            "lengths {shortest}..{longest}"
        );
        let mid = start + 365 / 2 * MICROS_PER_DAY;
        let early = users.values().filter(|u| u.created_at < mid).count();
        assert!(early > 180, "{early} of 300 created in the first half");
        for types in [
            vec![ChangeType::Enablement, ChangeType::Status],
            vec![ChangeType::Status],
            vec![ChangeType::AppRole],
            vec![ChangeType::DatasetRole],
            vec![ChangeType::Profile],
        ] {
            let mask = ChangeType::mask(&types);
            assert!(
                changes.iter().any(|c| c.change_mask == mask),
                "no change of {types:?}"
            );
        }

        // Refuses to generate twice.
        assert!(generate(db, &spec(7), now()).await.is_err());
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_data() {
        let (a, b, c) = (
            TempDb::new("seed-a").await,
            TempDb::new("seed-b").await,
            TempDb::new("seed-c").await,
        );
        generate(a.db(), &spec(3), now()).await.unwrap();
        generate(b.db(), &spec(3), now()).await.unwrap();
        generate(c.db(), &spec(4), now()).await.unwrap();
        let first = checksum(a.db()).await;
        assert_eq!(first, checksum(b.db()).await);
        assert_ne!(first, checksum(c.db()).await);
    }

    #[tokio::test]
    async fn fewer_changes_than_users_is_an_error() {
        let temp = TempDb::new("few").await;
        let mut few = spec(1);
        few.changes = 299;
        let err = generate(temp.db(), &few, now()).await.unwrap_err();
        assert!(err.to_string().contains("--changes"), "{err}");
        few.changes = 300;
        generate(temp.db(), &few, now()).await.unwrap();
        let changes = user_change::Entity::find().count(temp.db().conn()).await;
        assert_eq!(changes.unwrap(), 300);
    }

    #[tokio::test]
    async fn the_services_carry_on_from_generated_data() {
        let temp = TempDb::new("services").await;
        services_carry_on(temp.db()).await;
    }

    /// On PostgreSQL and MySQL/MariaDB when their test URLs are set (as in
    /// CI): explicit ids must leave the sequences and auto-increments ready.
    #[tokio::test]
    async fn the_services_carry_on_on_server_backends() {
        for var in ["HEADCOUNT_TEST_PG_URL", "HEADCOUNT_TEST_MYSQL_URL"] {
            let Ok(admin_url) = std::env::var(var) else {
                continue;
            };
            let admin = Db::connect(&admin_url, Default::default()).await.unwrap();
            let name = format!("hc_generate_{}", std::process::id());
            let drop_sql = match admin.backend() {
                DbBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            admin.conn().execute_unprepared(&drop_sql).await.unwrap();
            let create = format!("CREATE DATABASE {name}");
            admin.conn().execute_unprepared(&create).await.unwrap();
            let (base, _) = admin_url
                .split('?')
                .next()
                .unwrap()
                .rsplit_once('/')
                .unwrap();
            let db = Db::connect(&format!("{base}/{name}"), Default::default())
                .await
                .unwrap();
            db.migrate().await.unwrap();
            services_carry_on(&db).await;
            db.conn().clone().close().await.unwrap();
            admin.conn().execute_unprepared(&drop_sql).await.unwrap();
        }
    }

    /// Generates a small history, then creates a user and changes one
    /// through the services.
    async fn services_carry_on(db: &Db) {
        generate(db, &spec(11), Utc::now()).await.unwrap();
        let services = Services::new(db.clone(), Arc::new(SystemClock))
            .await
            .unwrap();
        let system = Principal::system();

        let created = services
            .directory
            .create_user(
                &system,
                NewUser {
                    realm: "realm-2".into(),
                    email: "new.hire@realm-2.example.com".into(),
                    name: "New Hire".into(),
                    status: UserStatus::Active,
                    roles: vec!["TEAM_USER".into()],
                    datasets: vec![(Generator::dataset_id(1, 0), "ANALYST".into())],
                },
            )
            .await
            .unwrap();
        assert_eq!(created.id, 301);

        let conn = db.conn();
        let target = user::Entity::find()
            .filter(user::Column::DeletedAt.is_null())
            .order_by_asc(user::Column::Id)
            .one(conn)
            .await
            .unwrap()
            .unwrap();
        let last = |id: i32| async move {
            user_change::Entity::find()
                .filter(user_change::Column::UserId.eq(id))
                .order_by_desc(user_change::Column::Id)
                .all(conn)
                .await
                .unwrap()
        };
        let generated = last(target.id).await[0].clone();
        let roles = vec!["REPORT_GENERATOR".to_owned(), "TEAM_DEVELOPER".to_owned()];
        assert_ne!(decode_roles(&generated.roles), roles);
        services
            .directory
            .set_user_roles(&system, target.id, &roles)
            .await
            .unwrap();
        let after = last(target.id).await;
        let (new, old) = (&after[0], &after[1]);
        assert_eq!(old.id, generated.id);
        assert!(new.id > 3_000);
        assert_eq!(new.previous_roles, generated.roles);
        assert_eq!(new.previous_datasets, generated.datasets);
        assert_eq!(
            new.previous_status.as_deref(),
            Some(generated.status.as_str())
        );
        assert_eq!(decode_roles(&new.roles), roles);
        assert_eq!(old.valid_to, new.changed_at);
        assert_eq!(new.valid_to, OPEN);
    }
}
