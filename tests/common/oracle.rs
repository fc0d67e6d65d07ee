//! Property tests against a naive model: one proptest run per server, its
//! case count from PROPTEST_CASES (else the test's default), failures shrunk
//! and reported with the minimal case.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

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
