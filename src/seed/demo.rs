//! The demo data set: three realms, about 200 users and 90 days of history.
//!
//! Everything goes through the domain services (acting as the system) so the
//! history and audit events are the real thing; a manual clock walks from 90
//! days ago towards today, so every change is dated in the past, in order.
//! Deterministic apart from "now": the random choices come from a fixed seed.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::bail;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::clock::ManualClock;
use crate::db::Db;
use crate::service::directory::{NewUser, User, UserStatus, UserUpdate};
use crate::service::{Principal, Services};

/// How far back the history goes.
const DAYS: i64 = 90;
/// Days over which the first staff is hired.
const RAMP_UP_DAYS: i64 = 14;

/// Realm name, seat limit, datasets, users hired during the ramp-up, and the
/// weight of the realm among later hires.
struct RealmPlan {
    name: &'static str,
    seat_limit: i32,
    datasets: &'static [&'static str],
    initial_users: usize,
    hire_weight: u32,
}

const REALMS: [RealmPlan; 3] = [
    RealmPlan {
        name: "acme",
        seat_limit: 120,
        datasets: &[
            "Invoices",
            "Support Tickets",
            "Product Images",
            "Contracts",
            "Call Transcripts",
        ],
        initial_users: 84,
        hire_weight: 5,
    },
    RealmPlan {
        name: "globex",
        seat_limit: 60,
        datasets: &["Claims", "Receipts", "Street Scenes", "Medical Forms"],
        initial_users: 46,
        hire_weight: 3,
    },
    RealmPlan {
        name: "initech",
        seat_limit: 40,
        datasets: &["TPS Reports", "Customer Emails", "Scanned Forms"],
        initial_users: 26,
        hire_weight: 2,
    },
];

pub(super) const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Ben",
    "Carlos",
    "Chloe",
    "Daniel",
    "Elena",
    "Emma",
    "Farah",
    "George",
    "Hannah",
    "Hiro",
    "Ines",
    "Isaac",
    "Jana",
    "Jonas",
    "Kai",
    "Laura",
    "Leo",
    "Lucia",
    "Maria",
    "Mateo",
    "Mei",
    "Nadia",
    "Noah",
    "Olivia",
    "Omar",
    "Priya",
    "Rafael",
    "Rosa",
    "Samuel",
    "Sara",
    "Tariq",
    "Thomas",
    "Valentina",
    "Wei",
    "Yusuf",
    "Zoe",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Andersen", "Baker", "Bianchi", "Chen", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia",
    "Haddad", "Ivanova", "Jensen", "Kim", "Kowalski", "Lopez", "Martin", "Meyer", "Nakamura",
    "Novak", "Okafor", "Patel", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh",
    "Tanaka", "Torres", "Wagner", "Walsh", "Weber", "Yamamoto", "Zhang", "Ziegler",
];

/// App roles a user may pick up on top of TEAM_USER, by how often.
const EXTRA_ROLES: &[(&str, u32)] = &[
    ("TEAM_DEVELOPER", 12),
    ("REPORT_GENERATOR", 6),
    ("TEAM_ADMIN", 4),
    ("MANAGE_ALL_DATA", 2),
];

/// Dataset roles, by how often they are granted.
pub(super) const DATASET_ROLES: &[(&str, u32)] = &[
    ("ANALYST", 40),
    ("LABELER", 25),
    ("REVIEWER", 15),
    ("LABELER_AND_REVIEWER", 12),
    ("MANAGER", 8),
];

/// At most this many users are deleted.
const MAX_DELETIONS: usize = 10;

/// Seeds the demo data set into an empty directory; returns a short summary line.
pub async fn demo(db: &Db) -> anyhow::Result<String> {
    if entity::realm::Entity::find()
        .one(db.conn())
        .await?
        .is_some()
    {
        bail!("database is not empty: the demo data set needs a directory without realms");
    }
    // Midnight (UTC) 90 days ago: day d's changes happen between 08:00 and
    // 20:00, so the last ones are hours before now.
    let now = Utc::now();
    let start = (now - Duration::days(DAYS))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let clock = ManualClock::new(start);
    let services = Services::new(db.clone(), Arc::new(clock.clone())).await?;
    let mut seeder = Seeder {
        rng: StdRng::seed_from_u64(42),
        services,
        actor: Principal::system(),
        clock,
        datasets: Vec::new(),
        live: Vec::new(),
        emails: HashSet::new(),
        created: 0,
        deleted: 0,
    };
    seeder.create_realms(start).await?;
    seeder.run_days(start).await?;

    let changes = entity::user_change::Entity::find().count(db.conn()).await?;
    let datasets: usize = seeder.datasets.iter().map(Vec::len).sum();
    Ok(format!(
        "seeded demo data: {} realms, {datasets} datasets, {} users ({} deleted), {changes} history entries since {}",
        REALMS.len(),
        seeder.created,
        seeder.deleted,
        start.date_naive(),
    ))
}

/// What can happen to an existing user on a given day.
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
    Delete,
}

/// Actions by how often they happen.
const ACTIONS: &[(Action, u32)] = &[
    (Action::Suspend, 10),
    (Action::Reactivate, 10),
    (Action::GoDormant, 13),
    (Action::AddRole, 10),
    (Action::RemoveRole, 6),
    (Action::ChangeTeam, 4),
    (Action::Grant, 20),
    (Action::Revoke, 9),
    (Action::ChangeGrant, 8),
    (Action::Rename, 4),
    (Action::Delete, 3),
];

/// One event of a day.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Hire into the realm at this index.
    Hire(usize),
    Change,
}

struct Seeder {
    rng: StdRng,
    services: Services,
    actor: Principal,
    clock: ManualClock,
    /// Dataset ids per realm, in `REALMS` order.
    datasets: Vec<Vec<i32>>,
    /// Users not deleted, as the services last returned them.
    live: Vec<User>,
    emails: HashSet<String>,
    created: usize,
    deleted: usize,
}

impl Seeder {
    /// Day 0, 07:00: the realms and their datasets, a few minutes apart.
    async fn create_realms(&mut self, start: DateTime<Utc>) -> anyhow::Result<()> {
        self.clock.set(start + Duration::hours(7));
        let dir = &self.services.directory;
        for plan in &REALMS {
            dir.create_realm(&self.actor, plan.name, Some(plan.seat_limit))
                .await?;
            self.clock.advance(Duration::minutes(2));
            let mut ids = Vec::new();
            for name in plan.datasets {
                ids.push(dir.create_dataset(&self.actor, plan.name, name).await?.id);
                self.clock.advance(Duration::minutes(3));
            }
            self.datasets.push(ids);
        }
        Ok(())
    }

    /// Walks the days: hires (most in the first two weeks), then a handful of
    /// changes each day, at random times between 08:00 and 20:00.
    async fn run_days(&mut self, start: DateTime<Utc>) -> anyhow::Result<()> {
        // The first staff: each realm's admin on day 0, then everyone else.
        let mut ramp_up: Vec<usize> = (0..REALMS.len()).collect();
        let mut rest: Vec<usize> = REALMS
            .iter()
            .enumerate()
            .flat_map(|(i, plan)| std::iter::repeat_n(i, plan.initial_users - 1))
            .collect();
        rest.shuffle(&mut self.rng);
        ramp_up.extend(rest);
        let per_day = ramp_up.len().div_ceil(RAMP_UP_DAYS as usize);
        let mut ramp_up = ramp_up.chunks(per_day).map(<[usize]>::to_vec);

        for day in 0..DAYS {
            let mut events: Vec<Event> = Vec::new();
            if day < RAMP_UP_DAYS {
                events.extend(
                    ramp_up
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .map(Event::Hire),
                );
            } else {
                for p in [0.45, 0.08] {
                    if self.rng.random_bool(p) {
                        events.push(Event::Hire(self.hiring_realm()));
                    }
                }
            }
            if day >= 3 {
                let changes = self.rng.random_range(3..=8);
                events.extend(std::iter::repeat_n(Event::Change, changes));
            }
            // Realm admins come first on day 0; other days are shuffled.
            if day > 0 {
                events.shuffle(&mut self.rng);
            }
            let mut times: Vec<i64> = events
                .iter()
                .map(|_| self.rng.random_range(8 * 3600..20 * 3600))
                .collect();
            times.sort_unstable();

            let day_start = start + Duration::days(day);
            for (event, secs) in events.into_iter().zip(times) {
                self.clock.set(day_start + Duration::seconds(secs));
                match event {
                    Event::Hire(realm) => self.hire(realm).await?,
                    Event::Change => self.change(day_start).await?,
                }
            }
        }
        Ok(())
    }

    fn hiring_realm(&mut self) -> usize {
        let weighted: Vec<(usize, u32)> = REALMS
            .iter()
            .enumerate()
            .map(|(i, plan)| (i, plan.hire_weight))
            .collect();
        pick_weighted(&mut self.rng, &weighted)
    }

    /// Creates a user in the realm at `realm`; its first user is the admin.
    async fn hire(&mut self, realm: usize) -> anyhow::Result<()> {
        let plan = &REALMS[realm];
        let datasets = &self.datasets[realm];
        let first_of_realm = !self.live.iter().any(|u| u.realm.name == plan.name);
        let (roles, grants): (Vec<&str>, Vec<(i32, String)>) = if first_of_realm {
            let grants = datasets
                .iter()
                .take(2)
                .map(|id| (*id, "MANAGER".to_owned()))
                .collect();
            (vec!["APP_ADMIN", "TEAM_ADMIN", "TEAM_USER"], grants)
        } else {
            let mut roles = vec!["TEAM_USER"];
            if self.rng.random_ratio(24, 100) {
                roles.push(pick_weighted(&mut self.rng, EXTRA_ROLES));
            }
            let mut grants = Vec::new();
            if self.rng.random_bool(0.65) {
                let count = if self.rng.random_bool(0.3) { 2 } else { 1 };
                for id in datasets.choose_multiple(&mut self.rng, count) {
                    let role = pick_weighted(&mut self.rng, DATASET_ROLES);
                    grants.push((*id, role.to_owned()));
                }
            }
            (roles, grants)
        };
        let first = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&"Alex");
        let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Smith");
        let email = self.fresh_email(first, last, plan.name);
        let user = self
            .services
            .directory
            .create_user(
                &self.actor,
                NewUser {
                    realm: plan.name.to_owned(),
                    email,
                    name: format!("{first} {last}"),
                    status: UserStatus::Active,
                    roles: roles.into_iter().map(str::to_owned).collect(),
                    datasets: grants,
                },
            )
            .await?;
        self.live.push(user);
        self.created += 1;
        Ok(())
    }

    /// `first.last@realm.example.com`, numbered when already taken.
    fn fresh_email(&mut self, first: &str, last: &str, realm: &str) -> String {
        let local = format!("{first}.{last}").to_lowercase();
        let mut n = 1;
        loop {
            let email = if n == 1 {
                format!("{local}@{realm}.example.com")
            } else {
                format!("{local}{n}@{realm}.example.com")
            };
            if self.emails.insert(email.clone()) {
                return email;
            }
            n += 1;
        }
    }

    /// One random change to one live user; skipped when nobody qualifies.
    async fn change(&mut self, today: DateTime<Utc>) -> anyhow::Result<()> {
        let action = pick_weighted(&mut self.rng, ACTIONS);
        let dir = self.services.directory.clone();
        let actor = &self.actor.clone();
        let updated = match action {
            Action::Suspend => {
                let Some(i) = self.pick(|u| u.status != UserStatus::Suspended) else {
                    return Ok(());
                };
                dir.set_user_status(actor, self.live[i].id, UserStatus::Suspended)
                    .await?
            }
            Action::Reactivate => {
                let Some(i) = self.pick(|u| u.status != UserStatus::Active) else {
                    return Ok(());
                };
                dir.set_user_status(actor, self.live[i].id, UserStatus::Active)
                    .await?
            }
            Action::GoDormant => {
                // Dormancy follows weeks without activity.
                let Some(i) = self.pick(|u| {
                    u.status == UserStatus::Active && u.updated_at < today - Duration::days(21)
                }) else {
                    return Ok(());
                };
                dir.set_user_status(actor, self.live[i].id, UserStatus::Dormant)
                    .await?
            }
            Action::AddRole => {
                let Some(i) = self.pick(|u| missing_extra_roles(u).next().is_some()) else {
                    return Ok(());
                };
                let missing: Vec<&str> = missing_extra_roles(&self.live[i]).collect();
                let role = *missing.choose(&mut self.rng).unwrap_or(&"TEAM_DEVELOPER");
                dir.add_user_roles(actor, self.live[i].id, &[role.to_owned()])
                    .await?
            }
            Action::RemoveRole => {
                let Some(i) = self.pick(|u| u.roles.iter().any(|r| removable(r))) else {
                    return Ok(());
                };
                let held: Vec<String> = self.live[i]
                    .roles
                    .iter()
                    .filter(|r| removable(r))
                    .cloned()
                    .collect();
                let role = held.choose(&mut self.rng).cloned().unwrap_or_default();
                dir.remove_user_roles(actor, self.live[i].id, &[role])
                    .await?
            }
            Action::ChangeTeam => {
                // A move to another team: the role set is replaced as a whole.
                let Some(i) = self.pick(|u| !u.roles.iter().any(|r| r == "APP_ADMIN")) else {
                    return Ok(());
                };
                let mut roles = vec!["TEAM_USER".to_owned()];
                if self.rng.random_bool(0.5) {
                    roles.push(pick_weighted(&mut self.rng, EXTRA_ROLES).to_owned());
                }
                roles.sort();
                if roles == self.live[i].roles {
                    return Ok(());
                }
                dir.set_user_roles(actor, self.live[i].id, &roles).await?
            }
            Action::Grant => {
                let Some(i) = self.pick(|u| u.datasets.len() < 3) else {
                    return Ok(());
                };
                let user = &self.live[i];
                let free: Vec<i32> = self
                    .realm_datasets(user)
                    .iter()
                    .copied()
                    .filter(|id| !user.datasets.iter().any(|d| d.dataset_id == *id))
                    .collect();
                let Some(&dataset) = free.choose(&mut self.rng) else {
                    return Ok(());
                };
                let role = pick_weighted(&mut self.rng, DATASET_ROLES);
                dir.set_dataset_role(actor, user.id, dataset, Some(role))
                    .await?
            }
            Action::Revoke => {
                let Some(i) = self.pick(|u| !u.datasets.is_empty()) else {
                    return Ok(());
                };
                let user = &self.live[i];
                let Some(grant) = user.datasets.choose(&mut self.rng) else {
                    return Ok(());
                };
                dir.set_dataset_role(actor, user.id, grant.dataset_id, None)
                    .await?
            }
            Action::ChangeGrant => {
                let Some(i) = self.pick(|u| !u.datasets.is_empty()) else {
                    return Ok(());
                };
                let user = &self.live[i];
                let Some(grant) = user.datasets.choose(&mut self.rng) else {
                    return Ok(());
                };
                let role = pick_weighted(&mut self.rng, DATASET_ROLES);
                if role == grant.role {
                    return Ok(());
                }
                dir.set_dataset_role(actor, user.id, grant.dataset_id, Some(role))
                    .await?
            }
            Action::Rename => {
                // A new last name (marriage, a typo fixed); the email stays.
                let Some(i) = self.pick(|_| true) else {
                    return Ok(());
                };
                let user = &self.live[i];
                let first = user.name.split(' ').next().unwrap_or("Alex");
                let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Smith");
                let name = format!("{first} {last}");
                if name == user.name {
                    return Ok(());
                }
                let update = UserUpdate {
                    user_id: user.id,
                    email: None,
                    name: Some(name),
                };
                dir.update_user(actor, update).await?
            }
            Action::Delete => {
                // Mostly people who were suspended first; never a realm admin.
                if self.deleted >= MAX_DELETIONS {
                    return Ok(());
                }
                let suspended_only = self.rng.random_bool(0.8);
                let Some(i) = self.pick(|u| {
                    (!suspended_only || u.status == UserStatus::Suspended)
                        && !u.roles.iter().any(|r| r == "APP_ADMIN")
                }) else {
                    return Ok(());
                };
                let user = self.live.remove(i);
                dir.delete_user(actor, user.id).await?;
                self.deleted += 1;
                return Ok(());
            }
        };
        if let Some(slot) = self.live.iter_mut().find(|u| u.id == updated.id) {
            *slot = updated;
        }
        Ok(())
    }

    /// A random live user satisfying `keep`, by index into `live`.
    fn pick(&mut self, keep: impl Fn(&User) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.live.len())
            .filter(|&i| keep(&self.live[i]))
            .collect();
        candidates.choose(&mut self.rng).copied()
    }

    fn realm_datasets(&self, user: &User) -> &[i32] {
        REALMS
            .iter()
            .position(|plan| plan.name == user.realm.name)
            .map_or(&[], |i| &self.datasets[i])
    }
}

/// Extra app roles the user does not hold yet.
fn missing_extra_roles(user: &User) -> impl Iterator<Item = &'static str> + '_ {
    EXTRA_ROLES
        .iter()
        .map(|(role, _)| *role)
        .filter(|role| !user.roles.iter().any(|r| r == role))
}

/// Roles a change may take away (TEAM_USER and APP_ADMIN stay).
fn removable(role: &str) -> bool {
    role != "TEAM_USER" && role != "APP_ADMIN"
}

pub(super) fn pick_weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

#[cfg(test)]
mod tests {
    use sea_orm::{Order, QueryOrder};

    use super::*;

    #[tokio::test]
    async fn demo_seeds_three_realms_and_90_days_of_history() {
        let path = std::env::temp_dir().join(format!("headcount-seed-{}.db", std::process::id()));
        let cleanup = || {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        };
        cleanup();
        let db = Db::connect(
            &format!("sqlite://{}?mode=rwc", path.display()),
            Default::default(),
        )
        .await
        .unwrap();
        db.migrate().await.unwrap();

        let summary = demo(&db).await.unwrap();
        assert!(summary.contains("3 realms"), "{summary}");

        let conn = db.conn();
        assert_eq!(entity::realm::Entity::find().count(conn).await.unwrap(), 3);
        let users = entity::user::Entity::find().count(conn).await.unwrap();
        assert!((150..=250).contains(&users), "{users} users");

        let changed_at = |order| async move {
            entity::user_change::Entity::find()
                .order_by(entity::user_change::Column::ChangedAt, order)
                .one(conn)
                .await
                .unwrap()
                .expect("history is empty")
                .changed_at
        };
        let first = changed_at(Order::Asc).await;
        let last = changed_at(Order::Desc).await;
        assert!(
            last - first >= Duration::days(60).num_microseconds().unwrap(),
            "history spans {first}..{last}"
        );
        assert!(
            last < Utc::now().timestamp_micros(),
            "history reaches the future"
        );

        let again = demo(&db).await;
        assert!(again.is_err(), "seeding twice must fail");

        drop(db);
        cleanup();
    }
}
