//! Token event and counter query benchmarks (docs/BENCHMARKS.md, "Tokens").
//!
//! ```sh
//! HEADCOUNT_BENCH_URL='sqlite:///tmp/tokens.db?mode=rwc' cargo bench --bench token_events
//! HEADCOUNT_BENCH_URL=postgres://postgres@127.0.0.1:5432/tokens cargo bench --bench token_events
//! ```
//! An empty database is filled first (minutes): realms of 1k, 100k and 1M
//! tokens, with their tallies as the service keeps them, and 1M TOTAL
//! counter rows of the 1M realm spread over the past year. Each run compares,
//! side by side:
//! - one token event with counters on (every status recorded) in each realm,
//!   beside the same event followed by a full recount of the realm, which is
//!   what LinOTP does per event (target: events flat, ratio <= 1.2 from 1k to 1M);
//! - `tokenCountsInPeriod` for one month of the 1M rows (target <= 20 ms);
//! - a `tokenCounters` page of 100 at depth 0 and at depth 900k (ratio <= 1.2).
//!
//! The two ratio targets are then measured once more side by side
//! (`side_by_side`): the two cases take turns in short rounds, so a busy
//! spell on this shared machine slows both alike, and the ratio printed is
//! the median of the rounds' ratios. Criterion's figures, one case after the
//! other, swing by +-0.5 on the same data.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use entity::{realm, token, token_counter, token_counter_day, token_tally};
use headcount::clock::SystemClock;
use headcount::db::Db;
use headcount::service::page::{Page, PageArgs};
use headcount::service::tokens::{Counter, CounterOrder, TokenStatus};
use headcount::service::user_counts::day_of;
use headcount::service::{Principal, Services};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use tokio::runtime::Runtime;

const SIZES: [(&str, usize); 3] = [("t1k", 1_000), ("t100k", 100_000), ("t1m", 1_000_000)];
const COUNTER_ROWS: i64 = 1_000_000;
const DEPTH: usize = 900_000;
const BATCH: usize = 1000;
const YEAR_US: i64 = 365 * 86_400 * 1_000_000;

fn first(n: i32, after: Option<String>) -> PageArgs {
    PageArgs {
        first: Some(n),
        after,
        ..Default::default()
    }
}

/// Fills an empty database: the realms' tokens (one in ten disabled, none
/// assigned), their tallies, and the 1M realm's counter rows with their
/// daily highs, as the services keep them.
async fn fill(services: &Services, db: &Db) {
    let system = Principal::system();
    services
        .tokens
        .set_reporting_policy(&system, "*", &TokenStatus::ALL)
        .await
        .expect("policy");
    let now = Utc::now().timestamp_micros();
    for (name, size) in SIZES {
        let realm = services
            .directory
            .create_realm(&system, name, None)
            .await
            .expect("realm");
        for start in (0..size).step_by(BATCH) {
            let tx = db.begin_write().await.expect("begin");
            let rows = (start..(start + BATCH).min(size)).map(|i| token::ActiveModel {
                serial: Set(format!("{name}-{i}")),
                kind: Set("totp".to_owned()),
                realm_id: Set(Some(realm.id)),
                user_id: Set(None),
                active: Set(i % 10 != 0),
                created_at: Set(now),
                ..Default::default()
            });
            token::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await
                .expect("tokens");
            tx.commit().await.expect("commit");
        }
        let inactive = size.div_ceil(10) as i64;
        token_tally::Entity::insert(token_tally::ActiveModel {
            realm: Set(name.to_owned()),
            active_assigned: Set(0),
            active_unassigned: Set(size as i64 - inactive),
            inactive_assigned: Set(0),
            inactive_unassigned: Set(inactive),
            users: Set(0),
        })
        .exec_without_returning(db.conn())
        .await
        .expect("tally");
    }
    let step = YEAR_US / COUNTER_ROWS;
    let at = |i: i64| now - YEAR_US + i * step;
    let count = |i: i64| 500_000 + (i * 7919) % 500_000;
    let mut highs: BTreeMap<i32, i64> = BTreeMap::new();
    for i in 0..COUNTER_ROWS {
        let high = highs.entry(day_of(at(i))).or_insert(0);
        *high = (*high).max(count(i));
    }
    let days = highs
        .into_iter()
        .map(|(day, high)| token_counter_day::ActiveModel {
            realm: Set("t1m".to_owned()),
            status: Set("TOTAL".to_owned()),
            day: Set(day),
            highest: Set(high),
        });
    token_counter_day::Entity::insert_many(days)
        .exec_without_returning(db.conn())
        .await
        .expect("daily highs");
    for start in (0..COUNTER_ROWS).step_by(BATCH) {
        let tx = db.begin_write().await.expect("begin");
        let rows = (start..start + BATCH as i64).map(|i| token_counter::ActiveModel {
            recorded_at: Set(at(i)),
            event: Set("token_init".to_owned()),
            realm: Set("t1m".to_owned()),
            status: Set("TOTAL".to_owned()),
            count: Set(count(i)),
            ..Default::default()
        });
        token_counter::Entity::insert_many(rows)
            .exec_without_returning(&tx)
            .await
            .expect("counters");
        tx.commit().await.expect("commit");
    }
}

async fn setup(url: &str) -> (Services, Db) {
    let db = Db::connect(url, Default::default())
        .await
        .expect("connect to HEADCOUNT_BENCH_URL");
    db.migrate().await.expect("migrate");
    let services = Services::new(db.clone(), Arc::new(SystemClock))
        .await
        .expect("services");
    let filled = realm::Entity::find()
        .filter(realm::Column::Name.eq("t1m"))
        .count(db.conn())
        .await
        .expect("realms");
    if filled == 0 {
        eprintln!("filling: 1.1M tokens, 1M counter rows ...");
        fill(&services, &db).await;
    }
    (services, db)
}

/// What LinOTP does after each event: count the realm's tokens again.
async fn recount(db: &Db, realm_id: i32) -> Vec<(bool, i64, i64)> {
    token::Entity::find()
        .select_only()
        .column(token::Column::Active)
        .column_as(token::Column::Id.count(), "tokens")
        .column_as(token::Column::UserId.count(), "assigned")
        .filter(token::Column::RealmId.eq(realm_id))
        .group_by(token::Column::Active)
        .into_tuple()
        .all(db.conn())
        .await
        .expect("recount")
}

/// A page of the 1M realm's counters, oldest first (LinOTP show).
async fn t1m_page(services: &Services, size: i32, after: Option<String>) -> Page<Counter> {
    let realms = ["t1m".to_owned()];
    let (page, _) = services
        .tokens
        .counters(
            &Principal::system(),
            Some(&realms[..]),
            None,
            None,
            CounterOrder::default(),
            &first(size, after),
        )
        .await
        .expect("a page");
    page
}

async fn deep_cursor(services: &Services) -> String {
    let mut after = None;
    for _ in 0..DEPTH / 1000 {
        let page = t1m_page(services, 1000, after).await;
        after = page.items.last().map(|(cursor, _)| cursor.clone());
    }
    after.expect("fewer than 900k counter rows")
}

fn tokens(c: &mut Criterion) {
    let Ok(url) = std::env::var("HEADCOUNT_BENCH_URL") else {
        eprintln!("set HEADCOUNT_BENCH_URL to run the token benchmarks");
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let (services, db) = rt.block_on(setup(&url));
    let actor = Principal::system();

    let mut group = c.benchmark_group("token_event");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    for (name, _) in SIZES {
        let serial = format!("{name}-1");
        let realm_id = rt
            .block_on(
                realm::Entity::find()
                    .filter(realm::Column::Name.eq(name))
                    .one(db.conn()),
            )
            .expect("realm")
            .expect("a filled realm")
            .id;
        let mut active = true;
        group.bench_function(format!("event/{name}"), |b| {
            b.to_async(&rt).iter(|| {
                active = !active;
                let (services, actor, serial) = (&services, &actor, &serial);
                async move {
                    services
                        .tokens
                        .set_active(actor, serial, active)
                        .await
                        .expect("event")
                }
            })
        });
        let mut active = true;
        group.bench_function(format!("event_and_recount/{name}"), |b| {
            b.to_async(&rt).iter(|| {
                active = !active;
                let (services, actor, serial, db) = (&services, &actor, &serial, &db);
                async move {
                    services
                        .tokens
                        .set_active(actor, serial, active)
                        .await
                        .expect("event");
                    recount(db, realm_id).await
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("token_counters");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    let today = Utc::now().date_naive();
    let month_ago = today - chrono::Duration::days(60);
    let from = month_ago.with_day(1).expect("a first of the month");
    let to = from + chrono::Months::new(1);
    let realms = ["t1m".to_owned()];
    group.bench_function("period_one_month", |b| {
        b.to_async(&rt).iter(|| async {
            services
                .tokens
                .counts_in_period(
                    &actor,
                    Some(from),
                    Some(to),
                    Some(&realms[..]),
                    Some(&[TokenStatus::Total]),
                )
                .await
                .expect("period")
        })
    });
    let deep = rt.block_on(deep_cursor(&services));
    for (name, after) in [("page_depth_0", None), ("page_depth_900k", Some(deep))] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let page = t1m_page(&services, 100, after.clone()).await;
                assert_eq!(page.items.len(), 100);
            })
        });
    }
    group.finish();
}

/// Times two cases in alternating rounds (the order flips every round),
/// `RUNS` calls of a case per round, and prints each case's median time per
/// call and the median of the rounds' ratios (second / first).
async fn side_by_side(what: &str, names: [&str; 2], mut run: impl AsyncFnMut(usize)) {
    const ROUNDS: usize = 21;
    const RUNS: usize = 40;
    let mut times: [Vec<f64>; 2] = Default::default();
    for round in 0..=ROUNDS {
        let mut took = [0.0; 2];
        for turn in 0..2 {
            let case = if round % 2 == 0 { turn } else { 1 - turn };
            let start = Instant::now();
            for _ in 0..RUNS {
                run(case).await;
            }
            took[case] = start.elapsed().as_secs_f64() * 1e3 / RUNS as f64;
        }
        // Round 0 warms both cases up.
        if round > 0 {
            times[0].push(took[0]);
            times[1].push(took[1]);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios = times[0].iter().zip(&times[1]).map(|(a, b)| b / a).collect();
    println!(
        "side by side, {what}: {} {:.3} ms, {} {:.3} ms, ratio {:.2} (median of {ROUNDS} rounds)",
        names[0],
        median(times[0].clone()),
        names[1],
        median(times[1].clone()),
        median(ratios),
    );
}

/// The two ratio targets, side by side: one event in the 1k realm against
/// one in the 1M realm, and a page at depth 0 against one at depth 900k.
fn ratios(_: &mut Criterion) {
    let Ok(url) = std::env::var("HEADCOUNT_BENCH_URL") else {
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let (services, _db) = rt.block_on(setup(&url));
    let actor = Principal::system();
    rt.block_on(async {
        let serials = ["t1k-1", "t1m-1"];
        let mut active = [true; 2];
        side_by_side("token event", ["1k", "1M"], async |case| {
            active[case] = !active[case];
            services
                .tokens
                .set_active(&actor, serials[case], active[case])
                .await
                .expect("event");
        })
        .await;
        let after = [None, Some(deep_cursor(&services).await)];
        side_by_side(
            "tokenCounters page",
            ["depth 0", "depth 900k"],
            async |case| {
                let page = t1m_page(&services, 100, after[case].clone()).await;
                assert_eq!(page.items.len(), 100);
            },
        )
        .await;
    });
}

criterion_group!(benches, tokens, ratios);
criterion_main!(benches);
