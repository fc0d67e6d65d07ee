//! Activity log and request log benchmarks (docs/BENCHMARKS.md, "Logs").
//!
//! ```sh
//! HEADCOUNT_BENCH_URL='sqlite:///tmp/logs.db?mode=rwc' cargo bench --bench logs
//! HEADCOUNT_BENCH_URL=postgres://postgres@127.0.0.1:5432/logs cargo bench --bench logs
//! ```
//! A database without audit events is filled first (minutes) with
//! `seed --audit-events 1000000 --requests 1000000` (HEADCOUNT_BENCH_ROWS
//! sets both counts, to try the harness on small data). Each run compares,
//! side by side:
//! - an `auditEvents` page (`first: 50`, across every realm) at depth 0 and
//!   at depth 900k (target: ratio <= 1.2);
//! - `apiRequestStats` grouped by OUTCOME per DAY over the last 30 days
//!   (target <= 50 ms).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use headcount::clock::SystemClock;
use headcount::db::Db;
use headcount::seed::{LogSpec, generate_logs};
use headcount::service::audit_events::AuditQuery;
use headcount::service::page::PageArgs;
use headcount::service::range::{Interval, RangeArgs};
use headcount::service::requests::Group;
use headcount::service::{Principal, Services};
use tokio::runtime::Runtime;

const ROWS: u64 = 1_000_000;

fn first(n: i32, after: Option<String>) -> PageArgs {
    PageArgs {
        first: Some(n),
        after,
        ..Default::default()
    }
}

/// Every event, across realms, over all time.
fn every_event() -> AuditQuery {
    AuditQuery {
        range: RangeArgs {
            start: Some(chrono::DateTime::UNIX_EPOCH),
            ..Default::default()
        },
        all_permitted_realms: true,
        ..Default::default()
    }
}

fn rows() -> u64 {
    std::env::var("HEADCOUNT_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROWS)
}

async fn setup(url: &str) -> Services {
    let db = Db::connect(url, Default::default())
        .await
        .expect("connect to HEADCOUNT_BENCH_URL");
    db.migrate().await.expect("migrate");
    let services = Services::new(db.clone(), Arc::new(SystemClock))
        .await
        .expect("services");
    let (page, _) = services
        .audit_events
        .list(&Principal::system(), &every_event(), &first(1, None))
        .await
        .expect("auditEvents");
    if page.items.is_empty() {
        let n = rows();
        let spec = LogSpec {
            audit_events: n,
            requests: n,
            seed: 1,
            days: 365,
        };
        eprintln!("generating {n} audit events and {n} request-log rows ...");
        eprintln!(
            "{}",
            generate_logs(&db, &spec, Utc::now())
                .await
                .expect("generate")
        );
    }
    services
}

/// The cursor after the first 90% of the events (900k of 1M), found by
/// walking pages.
async fn deep_cursor(services: &Services) -> (String, usize) {
    let actor = Principal::system();
    let depth = (rows() as usize) / 10 * 9;
    let mut after = None;
    for _ in 0..depth / 1000 {
        let (page, _) = services
            .audit_events
            .list(&actor, &every_event(), &first(1000, after))
            .await
            .expect("walk");
        after = page.items.last().map(|(cursor, _)| cursor.clone());
    }
    (after.expect("too few audit events to walk"), depth)
}

fn logs(c: &mut Criterion) {
    let Ok(url) = std::env::var("HEADCOUNT_BENCH_URL") else {
        eprintln!("set HEADCOUNT_BENCH_URL to run the log benchmarks");
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let services = rt.block_on(setup(&url));
    let (deep, depth) = rt.block_on(deep_cursor(&services));
    let actor = Principal::system();

    let mut group = c.benchmark_group("audit_events_first_50");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    for (name, after) in [
        ("depth_0".to_owned(), None),
        (format!("depth_{}k", depth / 1000), Some(deep)),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let (page, _) = services
                    .audit_events
                    .list(&actor, &every_event(), &first(50, after.clone()))
                    .await
                    .expect("page");
                assert_eq!(page.items.len(), 50);
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("api_request_stats");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let month = RangeArgs {
        window: Some("30d".to_owned()),
        ..Default::default()
    };
    group.bench_function("outcome_per_day_30_days", |b| {
        b.to_async(&rt).iter(|| async {
            let stats = services
                .api_requests
                .stats(&actor, &month, Some(Interval::Day), Group::Outcome)
                .await
                .expect("stats");
            assert!(!stats.is_empty());
        })
    });
    group.finish();
}

criterion_group!(benches, logs);
criterion_main!(benches);
