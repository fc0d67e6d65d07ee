//! History query benchmarks on a generated data set (100k users, 1M changes).
//!
//! ```sh
//! HEADCOUNT_BENCH_URL='sqlite:///tmp/gen100k.db?mode=rwc' cargo bench --bench history
//! HEADCOUNT_BENCH_URL=postgres://postgres@127.0.0.1:5432/gen100k cargo bench --bench history
//! ```
//! An empty database is filled first with `seed --users 100000 --changes 1000000`
//! (minutes). Each run compares, side by side, a changelog page at depth 0 and
//! at depth 900k (target ratio <= 1.2), and times `userSummary` and the first
//! `userSnapshots` page six months back (target <= 50 ms each).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use headcount::clock::SystemClock;
use headcount::db::Db;
use headcount::seed::{GenerateSpec, generate};
use headcount::service::history::ChangelogQuery;
use headcount::service::page::PageArgs;
use headcount::service::{Principal, Services};
use tokio::runtime::Runtime;

const USERS: u32 = 100_000;
const CHANGES: u64 = 1_000_000;
const DEPTH: usize = 900_000;

fn first(n: i32, after: Option<String>) -> PageArgs {
    PageArgs {
        first: Some(n),
        after,
        ..Default::default()
    }
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
        .history
        .changelog(
            &Principal::system(),
            &ChangelogQuery::default(),
            &first(1, None),
        )
        .await
        .expect("changelog");
    if page.items.is_empty() {
        let spec = GenerateSpec {
            users: USERS,
            changes: CHANGES,
            realms: 3,
            seed: 1,
            days: 365,
        };
        eprintln!("generating {USERS} users / {CHANGES} changes ...");
        eprintln!(
            "{}",
            generate(&db, &spec, Utc::now()).await.expect("generate")
        );
    }
    services
}

/// The cursor after the first `DEPTH` changes, found by walking pages, and
/// the time of the change it points at.
async fn deep_cursor(services: &Services) -> (String, DateTime<Utc>) {
    let actor = Principal::system();
    let (mut after, mut last) = (None, None);
    for _ in 0..DEPTH / 1000 {
        let (page, _) = services
            .history
            .changelog(&actor, &ChangelogQuery::default(), &first(1000, after))
            .await
            .expect("walk");
        last = page.items.last().map(|(_, change)| change.date);
        after = page.items.last().map(|(cursor, _)| cursor.clone());
    }
    let after = after.expect("the data set has fewer than 900k changes");
    (after, last.expect("a change"))
}

fn history(c: &mut Criterion) {
    let Ok(url) = std::env::var("HEADCOUNT_BENCH_URL") else {
        eprintln!("set HEADCOUNT_BENCH_URL to run the history benchmarks");
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let services = rt.block_on(setup(&url));
    let (deep, deep_at) = rt.block_on(deep_cursor(&services));
    let actor = Principal::system();
    let six_months_ago = Utc::now() - chrono::Duration::days(182);

    let mut group = c.benchmark_group("changelog_first_100");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    // Recent changes carry more roles than old ones (users gather access
    // over the year), so the page at depth 900k holds wider rows than the
    // first page. `recent_rows_no_cursor` reads about the same rows as
    // `depth_900k` as a first page (a start date instead of a cursor): it
    // tells what depth costs apart from what the rows cost.
    let recent = ChangelogQuery {
        start: Some(deep_at + chrono::Duration::microseconds(1)),
        ..Default::default()
    };
    let cases = [
        ("depth_0", ChangelogQuery::default(), None),
        ("depth_900k", ChangelogQuery::default(), Some(deep)),
        ("recent_rows_no_cursor", recent, None),
    ];
    for (name, query, after) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let (page, _) = services
                    .history
                    .changelog(&actor, &query, &first(100, after.clone()))
                    .await
                    .expect("page");
                assert_eq!(page.items.len(), 100);
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("as_of_six_months_back");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("user_summary", |b| {
        b.to_async(&rt).iter(|| async {
            services
                .history
                .summary(&actor, Some(six_months_ago.date_naive()), None, None)
                .await
                .expect("summary")
        })
    });
    group.bench_function("user_snapshots_first_50", |b| {
        b.to_async(&rt).iter(|| async {
            let (page, _) = services
                .history
                .snapshots(&actor, Some(six_months_ago), None, &first(50, None))
                .await
                .expect("snapshots");
            assert_eq!(page.items.len(), 50);
        })
    });
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
