//! Property tests against a naive model: one proptest run per server, its
//! case count from PROPTEST_CASES (else the test's default), failures shrunk
//! and reported with the minimal case.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use chrono::{Datelike, Duration, NaiveDate, Timelike};
use chrono_tz::Tz;

use super::*;

/// Runs `check` on cases drawn from `strategy` against the server `t`.
pub async fn check_against_model<S, F, Fut>(
    t: &TestServer,
    strategy: S,
    default_cases: u32,
    check: F,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        max_shrink_iters: 24,
        max_shrink_time: 60_000,
        failure_persistence: None,
        ..Config::default()
    };
    let handle = tokio::runtime::Handle::current();
    let started = Instant::now();
    let result = tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(config);
        runner.run(&strategy, |case| handle.block_on(check(case)))
    });
    match result {
        Ok(()) => eprintln!(
            "{}: {cases} cases matched the model in {:.1?}",
            t.backend().name(),
            started.elapsed()
        ),
        Err(TestError::Fail(reason, minimal)) => panic!(
            "{}: the server disagrees with the model.\n{reason}\nminimal case: {minimal:#?}",
            t.backend().name()
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}

/// Local boundaries found minute by minute around `[from, to]`: for HOUR
/// every instant the local clock shows a full hour (twice for a repeated
/// hour); otherwise the first instant at which a new local date (a Monday, a
/// 1st) is reached.
pub fn naive_boundaries(
    zone: Tz,
    interval: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let margin = match interval {
        "HOUR" => 1,
        "DAY" => 2,
        "WEEK" => 8,
        _ => 32,
    };
    let mut t = from - Duration::days(margin);
    t = t
        - Duration::seconds(i64::from(t.second()))
        - Duration::nanoseconds(i64::from(t.nanosecond()));
    let mut latest: Option<NaiveDate> = t
        .checked_sub_signed(Duration::minutes(1))
        .map(|p| p.with_timezone(&zone).date_naive());
    while t <= to {
        let local = t.with_timezone(&zone);
        let date = local.date_naive();
        let new_date = latest.is_none_or(|l| date > l);
        let starts = match interval {
            "HOUR" => local.minute() == 0,
            "DAY" => new_date,
            "WEEK" => new_date && date.weekday().num_days_from_monday() == 0,
            _ => new_date && date.day() == 1,
        };
        if starts {
            out.push(t);
        }
        if new_date {
            latest = Some(date);
        }
        t += Duration::minutes(1);
    }
    out
}
