//! Insights benchmarks (issue 14, item 5) on a generated data set: 100k
//! users, 1M changes and about 10M recorded sessions.
//!
//! ```sh
//! HEADCOUNT_BENCH_URL='sqlite:///tmp/insights.db?mode=rwc' cargo bench --bench insights
//! HEADCOUNT_BENCH_URL=postgres://postgres@127.0.0.1:5432/insights cargo bench --bench insights
//! ```
//! An empty database is filled first (`seed --users 100000 --changes 1000000
//! --activity-days 95`; many minutes). `HEADCOUNT_BENCH_USERS`,
//! `HEADCOUNT_BENCH_CHANGES` and `HEADCOUNT_BENCH_ACTIVITY_DAYS` make a
//! smaller set, e.g. to try the harness in a debug build with
//! `cargo test --bench insights`, which runs each case once.
//!
//! Cases, on the same data in the same run:
//! - `userStatusCounts` over 365 DAY buckets in Europe/Berlin (target
//!   ≤ 100 ms), beside one SQL statement that rescans the history for every
//!   bucket's snapshot, as Coder's query does (written as well as we could:
//!   each change's validity interval from a window function, then a running
//!   sum over the intervals' starts and ends with the bucket ends merged in).
//!   Both must give the same counts; the run checks that first.
//! - `activeUsers` over 90 DAY buckets in Europe/Berlin and `userLatency`
//!   over 30 days (target ≤ 200 ms each).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use headcount::clock::SystemClock;
use headcount::db::Db;
use headcount::seed::{ActivitySpec, GenerateSpec, generate, generate_activity};
use headcount::service::insights::buckets::{self, Interval};
use headcount::service::insights::{ActiveUsersQuery, ActivityRange, StatusCountsQuery};
use headcount::service::{Principal, Services};
use headcount::time::to_micros;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use tokio::runtime::Runtime;

const ZONE: &str = "Europe/Berlin";
const STATUSES: [&str; 3] = ["ACTIVE", "DORMANT", "SUSPENDED"];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

async fn setup(url: &str) -> Services {
    let db = Db::connect(url, Default::default())
        .await
        .expect("connect to HEADCOUNT_BENCH_URL");
    db.migrate().await.expect("migrate");
    let now = Utc::now();
    if entity::user::Entity::find()
        .count(db.conn())
        .await
        .expect("count")
        == 0
    {
        let spec = GenerateSpec {
            users: env_or("HEADCOUNT_BENCH_USERS", 100_000) as u32,
            changes: env_or("HEADCOUNT_BENCH_CHANGES", 1_000_000),
            realms: 3,
            seed: 1,
            days: 365,
        };
        eprintln!("{}", generate(&db, &spec, now).await.expect("generate"));
    }
    if entity::activity::Entity::find()
        .count(db.conn())
        .await
        .expect("count")
        == 0
    {
        let spec = ActivitySpec {
            days: env_or("HEADCOUNT_BENCH_ACTIVITY_DAYS", 95) as u32,
            seed: 1,
        };
        eprintln!(
            "{}",
            generate_activity(&db, &spec, now).await.expect("activity")
        );
    }
    Services::new(db, Arc::new(SystemClock))
        .await
        .expect("services")
}

/// The rescanning statement: users per status just before each of `cuts`
/// (microseconds), from `user_changes` alone.
fn rescanning_sql(cuts: &[i64]) -> String {
    let marks: Vec<String> = cuts
        .iter()
        .flat_map(|x| STATUSES.iter().map(move |s| format!("({x}, '{s}')")))
        .collect();
    format!(
        "WITH cuts (at, status) AS (VALUES {marks}), \
         intervals AS ( \
           SELECT status, deleted, changed_at, \
                  LEAD(changed_at) OVER (PARTITION BY user_id ORDER BY changed_at, id) AS ended_at \
           FROM user_changes), \
         marks AS ( \
           SELECT changed_at AS at, status, 1 AS d, 0 AS cut FROM intervals WHERE NOT deleted \
           UNION ALL \
           SELECT ended_at, status, -1, 0 FROM intervals WHERE NOT deleted AND ended_at IS NOT NULL \
           UNION ALL \
           SELECT at, status, 0, 1 FROM cuts), \
         running AS ( \
           SELECT at, status, cut, SUM(d) OVER (PARTITION BY status ORDER BY at, cut DESC \
                                               ROWS UNBOUNDED PRECEDING) AS users \
           FROM marks) \
         SELECT at, status, users FROM running WHERE cut = 1 ORDER BY at, status",
        marks = marks.join(", ")
    )
}

/// Runs the rescanning statement: counts per cut, in [`STATUSES`] order.
async fn rescan(db: &Db, sql: &str, cuts: usize) -> Vec<[i64; 3]> {
    let rows = db
        .conn()
        .query_all_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .expect("rescanning statement");
    assert_eq!(rows.len(), cuts * STATUSES.len());
    rows.chunks(STATUSES.len())
        .map(|chunk| {
            let mut counts = [0; 3];
            for row in chunk {
                let status: String = row.try_get_by_index(1).expect("status");
                let users: i64 = row.try_get_by_index(2).expect("users");
                let i = STATUSES
                    .iter()
                    .position(|s| *s == status)
                    .expect("a status");
                counts[i] = users;
            }
            counts
        })
        .collect()
}

fn status_counts_query(start: DateTime<Utc>, end: DateTime<Utc>) -> StatusCountsQuery {
    StatusCountsQuery {
        start: Some(start),
        end: Some(end),
        interval: Some(Interval::Day),
        time_zone: Some(ZONE.to_owned()),
        ..Default::default()
    }
}

fn insights(c: &mut Criterion) {
    let Ok(url) = std::env::var("HEADCOUNT_BENCH_URL") else {
        eprintln!("set HEADCOUNT_BENCH_URL to run the insights benchmarks");
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let services = rt.block_on(setup(&url));
    let actor = Principal::system();
    let now = Utc::now();
    let zone = ZONE.parse().expect("zone");

    // 365 daily buckets ending now, and the same cuts for the statement.
    let year = now - chrono::Duration::days(364);
    let status_query = status_counts_query(year, now);
    let cuts: Vec<i64> = buckets::buckets(year, now, Interval::Day, zone, "startDate")
        .expect("buckets")
        .iter()
        .map(|b| to_micros(b.end))
        .collect();
    assert_eq!(cuts.len(), 365);
    let sql = rescanning_sql(&cuts);
    let served = rt
        .block_on(services.insights.user_status_counts(&actor, &status_query))
        .expect("userStatusCounts");
    let rescanned = rt.block_on(rescan(&services.db, &sql, cuts.len()));
    for (i, counts) in rescanned.iter().enumerate() {
        for (s, series) in served.series.iter().enumerate() {
            assert_eq!(
                series.points[i].1, counts[s],
                "bucket {i}, {:?}: userStatusCounts and the rescanning statement differ",
                series.status
            );
        }
    }

    let mut group = c.benchmark_group("user_status_counts_365_days_berlin");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("rollups", |b| {
        b.to_async(&rt).iter(|| async {
            services
                .insights
                .user_status_counts(&actor, &status_query)
                .await
                .expect("userStatusCounts")
        })
    });
    group.bench_function("rescanning_sql", |b| {
        b.to_async(&rt)
            .iter(|| async { rescan(&services.db, &sql, cuts.len()).await })
    });
    group.finish();

    let mut group = c.benchmark_group("activity");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    // 90 local days, or 89 when the offset to UTC changed in between and
    // the start's local date moved on (at this hour of the day).
    let active_start = now - chrono::Duration::days(89);
    let days = buckets::buckets(active_start, now, Interval::Day, zone, "startDate")
        .expect("buckets")
        .len();
    let active = ActiveUsersQuery {
        start: Some(active_start),
        end: Some(now),
        interval: Some(Interval::Day),
        time_zone: Some(ZONE.to_owned()),
        ..Default::default()
    };
    group.bench_function("active_users_90_days_berlin", |b| {
        b.to_async(&rt).iter(|| async {
            let points = services
                .insights
                .active_users(&actor, &active)
                .await
                .expect("activeUsers");
            assert_eq!(points.len(), days);
        })
    });
    let month = ActivityRange {
        start: now - chrono::Duration::days(30),
        end: now,
        ..Default::default()
    };
    group.bench_function("user_latency_30_days", |b| {
        b.to_async(&rt).iter(|| async {
            services
                .insights
                .user_latency(&actor, &month)
                .await
                .expect("userLatency")
        })
    });
    group.finish();
}

criterion_group!(benches, insights);
criterion_main!(benches);
