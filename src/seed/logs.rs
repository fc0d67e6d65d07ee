//! `seed --audit-events N --requests M`: the activity log and the API
//! request log in bulk, for benchmarks.
//!
//! Audit events spread over the history span (`--days`), request-log rows
//! over the last 30 days (the default retention: older rows would be pruned
//! as soon as a server starts). Times grow with ids, as they do when the
//! services write them, spread uniformly over the span. Events name the
//! directory's users and realms when there are some (made-up ones when not);
//! actors and callers are a handful of API tokens per realm and a few
//! unbound ones; outcomes, error codes, operations and durations follow
//! fixed, skewed weights. Multi-row INSERTs of [`BATCH`] rows, one
//! transaction each. Deterministic for a given seed, directory and `now`.

use std::time::Instant;

use anyhow::ensure;
use chrono::{DateTime, Utc};
use entity::{api_request, audit_event, realm, user};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder, QuerySelect};
use serde_json::json;

use super::demo::pick_weighted;
use super::generate::standard_normal;
use crate::db::Db;
use crate::service::requests::rebuild_rollup;
use crate::time::to_micros;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub audit_events: u64,
    pub requests: u64,
    pub seed: u64,
    /// Days back the audit events start (request-log rows: at most 30).
    pub days: u32,
}

/// Rows per INSERT (and per transaction): 9 columns at most, well under
/// SQLite's 32,766 parameters.
const BATCH: usize = 2000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Request-log rows reach back this many days at most.
const REQUEST_DAYS: u32 = 30;
/// Users named by events, at most (read from the directory).
const MAX_USERS: u64 = 10_000;
const PROGRESS_EVERY: u64 = 200_000;

const AUDIT_KINDS: [(&str, u32); 12] = [
    ("user.updated", 25),
    ("user.roles_changed", 20),
    ("user.status_changed", 15),
    ("user.dataset_role_changed", 12),
    ("user.created", 8),
    ("auth.failed", 6),
    ("report.requested", 4),
    ("report.completed", 4),
    ("report.downloaded", 3),
    ("token.enrolled", 1),
    ("token.assigned", 1),
    ("user.deleted", 1),
];

const OPERATIONS: [(&str, u32); 12] = [
    ("ListUsers", 30),
    ("UserChangelog", 12),
    ("UserSummary", 10),
    ("GET /healthz", 10),
    ("anonymous", 8),
    ("RegisterEvents", 8),
    ("AuditEvents", 6),
    ("TokenCounters", 5),
    ("UserStatusCounts", 5),
    ("GET /metrics", 3),
    ("GET /reports/{id}/download", 2),
    ("POST /graphql", 1),
];

const ERROR_CODES: [(&str, u32); 7] = [
    ("BAD_USER_INPUT", 40),
    ("FORBIDDEN", 20),
    ("UNAUTHENTICATED", 15),
    ("RATE_LIMITED", 10),
    ("NOT_FOUND", 8),
    ("HTTP_504", 4),
    ("INTERNAL_SERVER_ERROR", 3),
];

/// Share of requests that fail.
const FAILURE_SHARE: f64 = 0.04;

/// A user events may name: (id, email, realm).
type Named = (i32, String, String);

/// The API tokens acting: (id, name, realm it is bound to).
struct Token {
    id: i32,
    name: String,
    realm: Option<String>,
}

struct Cast {
    realms: Vec<String>,
    users: Vec<Named>,
    /// Per realm, its bound tokens; then the unbound ones.
    bound: Vec<Vec<Token>>,
    unbound: Vec<Token>,
}

impl Cast {
    async fn read(db: &Db) -> anyhow::Result<Self> {
        let conn = db.conn();
        let mut realms: Vec<(i32, String)> = realm::Entity::find()
            .select_only()
            .column(realm::Column::Id)
            .column(realm::Column::Name)
            .order_by_asc(realm::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        if realms.is_empty() {
            realms = (1..=3).map(|i| (i, format!("realm-{i}"))).collect();
        }
        let rows: Vec<(i32, String, i32)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Email)
            .column(user::Column::RealmId)
            .order_by_asc(user::Column::Id)
            .limit(MAX_USERS)
            .into_tuple()
            .all(conn)
            .await?;
        let name_of = |id: i32| {
            realms
                .iter()
                .find(|(r, _)| *r == id)
                .map_or_else(|| realms[0].1.clone(), |(_, n)| n.clone())
        };
        let mut users: Vec<Named> = rows
            .into_iter()
            .map(|(id, email, realm)| (id, email, name_of(realm)))
            .collect();
        if users.is_empty() {
            users = (1..=1000)
                .map(|i| {
                    let realm = realms[i as usize % realms.len()].1.clone();
                    (i, format!("user{i}@{realm}.example"), realm)
                })
                .collect();
        }
        let names: Vec<String> = realms.into_iter().map(|(_, n)| n).collect();
        let bound = names
            .iter()
            .enumerate()
            .map(|(i, realm)| {
                ["app", "scim"]
                    .iter()
                    .enumerate()
                    .map(|(k, kind)| Token {
                        id: 1000 + (i * 2 + k) as i32,
                        name: format!("{kind}-{realm}"),
                        realm: Some(realm.clone()),
                    })
                    .collect()
            })
            .collect();
        let unbound = ["admin-console", "bi-tool", "report-bot"]
            .iter()
            .enumerate()
            .map(|(k, name)| Token {
                id: 900 + k as i32,
                name: (*name).to_owned(),
                realm: None,
            })
            .collect();
        Ok(Self {
            realms: names,
            users,
            bound,
            unbound,
        })
    }

    fn realm_index(&self, realm: &str) -> usize {
        self.realms.iter().position(|r| r == realm).unwrap_or(0)
    }

    /// A token acting in `realm`: mostly one bound to it, else an unbound one.
    fn actor(&self, rng: &mut StdRng, realm: &str) -> &Token {
        let bound = &self.bound[self.realm_index(realm)];
        if rng.random_bool(0.7) {
            &bound[rng.random_range(0..bound.len())]
        } else {
            &self.unbound[rng.random_range(0..self.unbound.len())]
        }
    }
}

/// `n` times in `[start, end)`, in increasing order: uniform order
/// statistics drawn one after another (each the minimum of what is left,
/// `1 - U^(1/k)` of the remaining span), so they fit the span exactly.
struct Arrivals {
    start: f64,
    span: f64,
    left: u64,
    /// The share of the span after the last time drawn.
    rest: f64,
}

impl Arrivals {
    fn new(start: i64, end: i64, n: u64) -> Self {
        Self {
            start: start as f64,
            span: (end - start) as f64,
            left: n,
            rest: 1.0,
        }
    }

    fn next(&mut self, rng: &mut StdRng) -> i64 {
        let u: f64 = 1.0 - rng.random::<f64>();
        self.rest *= u.powf(1.0 / self.left.max(1) as f64);
        self.left = self.left.saturating_sub(1);
        (self.start + self.span * (1.0 - self.rest)) as i64
    }
}

fn address(rng: &mut StdRng) -> String {
    format!(
        "10.{}.{}.0",
        rng.random_range(0..4),
        rng.random_range(0..64)
    )
}

/// Rows waiting for their multi-row INSERT, written [`BATCH`] at a time,
/// each INSERT in a transaction of its own; progress on stderr.
struct Rows<'a, A> {
    db: &'a Db,
    what: &'static str,
    total: u64,
    pushed: u64,
    rows: Vec<A>,
}

impl<'a, A: ActiveModelTrait + Send> Rows<'a, A> {
    fn new(db: &'a Db, what: &'static str, total: u64) -> Self {
        Self {
            db,
            what,
            total,
            pushed: 0,
            rows: Vec::with_capacity(BATCH),
        }
    }

    async fn push(&mut self, row: A) -> anyhow::Result<()> {
        self.rows.push(row);
        self.pushed += 1;
        if self.rows.len() >= BATCH {
            self.flush().await?;
        }
        if self.pushed.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("seed: {} / {} {}", self.pushed, self.total, self.what);
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().await?;
        <A::Entity as EntityTrait>::insert_many(self.rows.drain(..))
            .exec_without_returning(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Generates the logs into a migrated database (beside whatever is there);
/// returns a summary line.
pub async fn generate_logs(db: &Db, spec: &LogSpec, now: DateTime<Utc>) -> anyhow::Result<String> {
    ensure!(
        (1..=36_500).contains(&spec.days),
        "--days must be from 1 to 36500"
    );
    let started = Instant::now();
    let cast = Cast::read(db).await?;
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x6c6f_6773);
    let end = to_micros(now) - 60_000_000;
    audit_events(db, &cast, &mut rng, spec, end).await?;
    requests(db, &cast, &mut rng, spec, end).await?;
    Ok(format!(
        "generated {} audit events over {} days and {} request-log rows over {} days in {:.1}s",
        spec.audit_events,
        spec.days,
        spec.requests,
        spec.days.min(REQUEST_DAYS),
        started.elapsed().as_secs_f64()
    ))
}

async fn audit_events(
    db: &Db,
    cast: &Cast,
    rng: &mut StdRng,
    spec: &LogSpec,
    end: i64,
) -> anyhow::Result<()> {
    let start = end - i64::from(spec.days) * MICROS_PER_DAY;
    let mut times = Arrivals::new(start, end, spec.audit_events);
    let mut rows = Rows::new(db, "audit events", spec.audit_events);
    for n in 0..spec.audit_events {
        let at = times.next(rng);
        let kind = pick_weighted(rng, &AUDIT_KINDS);
        let (user_id, email, realm) = &cast.users[rng.random_range(0..cast.users.len())];
        let (realm, actor, resources) = match kind {
            "auth.failed" => (
                None,
                None,
                json!([
                    { "type": "reason", "name": "unknown token", "id": null },
                    { "type": "attempts", "name": rng.random_range(1..20).to_string(), "id": null },
                ]),
            ),
            k if k.starts_with("report.") => {
                let actor = cast.actor(rng, realm);
                let kind = if rng.random_bool(0.7) {
                    "CHANGELOG"
                } else {
                    "SNAPSHOT"
                };
                (
                    actor.realm.clone(),
                    Some(actor),
                    json!([{ "type": "report", "name": kind, "id": (n / 3 + 1).to_string() }]),
                )
            }
            k if k.starts_with("token.") => (
                Some(realm.clone()),
                Some(cast.actor(rng, realm)),
                json!([{ "type": "token", "name": format!("TOK-{n}"), "id": (n + 1).to_string() }]),
            ),
            _ => (
                Some(realm.clone()),
                Some(cast.actor(rng, realm)),
                json!([{ "type": "user", "name": email, "id": user_id.to_string() }]),
            ),
        };
        rows.push(audit_event::ActiveModel {
            occurred_at: Set(at),
            realm: Set(realm),
            event: Set(kind.to_owned()),
            actor_id: Set(actor.map(|a| a.id)),
            actor: Set(actor.map(|a| a.name.clone())),
            ip_address: Set(Some(address(rng))),
            resources: Set(resources.to_string()),
            ..Default::default()
        })
        .await?;
    }
    rows.flush().await
}

async fn requests(
    db: &Db,
    cast: &Cast,
    rng: &mut StdRng,
    spec: &LogSpec,
    end: i64,
) -> anyhow::Result<()> {
    let start = end - i64::from(spec.days.min(REQUEST_DAYS)) * MICROS_PER_DAY;
    let mut times = Arrivals::new(start, end, spec.requests);
    let mut rows = Rows::new(db, "request-log rows", spec.requests);
    for _ in 0..spec.requests {
        let at = times.next(rng);
        let operation = pick_weighted(rng, &OPERATIONS);
        let error_code = rng
            .random_bool(FAILURE_SHARE)
            .then(|| pick_weighted(rng, &ERROR_CODES));
        let open_route = matches!(operation, "GET /healthz" | "GET /metrics");
        let token = if open_route || error_code == Some("UNAUTHENTICATED") {
            None
        } else {
            let realm = &cast.realms[rng.random_range(0..cast.realms.len())];
            Some(cast.actor(rng, realm))
        };
        // Log-normal, median 4 ms; failures answer faster, timeouts at 30 s.
        let micros = match error_code {
            Some("HTTP_504") => 30_000_000.0,
            _ => (4000f64.ln() + 0.8 * standard_normal(rng)).exp(),
        };
        rows.push(api_request::ActiveModel {
            occurred_at: Set(at),
            operation: Set(operation.to_owned()),
            success: Set(error_code.is_none()),
            error_code: Set(error_code.map(str::to_owned)),
            duration_micros: Set(micros as i64),
            token_id: Set(token.map(|t| t.id)),
            token_name: Set(token.map(|t| t.name.clone())),
            realm: Set(token.and_then(|t| t.realm.clone())),
            ip_address: Set(Some(address(rng))),
            ..Default::default()
        })
        .await?;
    }
    rows.flush().await?;
    // The rows bypassed the request log's writer: roll them all up anew.
    let rollup = db.write(|tx| async move { rebuild_rollup(&*tx).await });
    Ok(rollup.await?)
}
