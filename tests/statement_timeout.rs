//! A request that runs past `--request-timeout-secs` answers 504 in about
//! that time, and its database statement stops then too, rather than run on
//! to its end: PostgreSQL's `statement_timeout`, MariaDB's
//! `max_statement_time`, an interrupting progress handler on SQLite.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use headcount::config::Limits;
use headcount::db::{Db, DbOptions};
use headcount::http::ServerConfig;
use headcount::seed::GenerateSpec;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

backend_tests!(config = one_second; a_slow_statement_stops_at_the_request_timeout);

fn one_second() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            request_timeout_secs: 1,
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

/// A count that reads every change against thousands of values: 96 OR
/// entries of two rare roles (each a LIKE on two JSON columns) and 4000
/// emails no one has. On 80,000 changes it runs for several seconds on each
/// backend, well within the filter's limits.
fn slow_filter() -> Value {
    let mut branches: Vec<Value> = (0..96)
        .map(|_| json!({ "role": ["APP_ADMIN", "MANAGE_ALL_DATA"] }))
        .collect();
    for b in 0..4 {
        let emails: Vec<String> = (0..1000)
            .map(|i| format!("nobody-{b}-{i}@example.invalid"))
            .collect();
        branches.push(json!({ "userEmail": emails }));
    }
    json!({ "OR": branches })
}

/// Whether a statement of this test's database is still running (SQLite:
/// whether a connection of the server's pool is still busy).
async fn statement_running(t: &TestServer) -> bool {
    let sql = match t.backend() {
        Backend::Sqlite => {
            let pool = t.conn().get_sqlite_connection_pool();
            return pool.num_idle() < pool.size() as usize;
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE '%user_changes%' AND pid <> pg_backend_pid()"
        }
        Backend::Mysql => {
            "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() \
             AND command <> 'Sleep' AND info LIKE '%user_changes%' AND id <> CONNECTION_ID()"
        }
    };
    let statement = Statement::from_string(t.conn().get_database_backend(), sql);
    let row = t.conn().query_one_raw(statement).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap() > 0
}

async fn a_slow_statement_stops_at_the_request_timeout(t: TestServer) {
    // Generated without a statement limit (as `headcount seed` does).
    let db = Db::connect(t.db_url(), DbOptions::default()).await.unwrap();
    let spec = GenerateSpec {
        users: 8_000,
        changes: 80_000,
        realms: 3,
        seed: 1,
        days: 365,
    };
    headcount::seed::generate(&db, &spec, t.now())
        .await
        .unwrap();
    db.conn().close_by_ref().await.unwrap();

    let query = "query($f: UserFilter) { userChangelog(filter: $f, first: 1) { totalCount } }";
    let body = json!({ "query": query, "variables": { "f": slow_filter() } });
    let started = Instant::now();
    let reply = t.post(Some(t.admin_secret()), &body).await;
    let answered = started.elapsed();
    assert_eq!(
        reply.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{:?}",
        reply.body
    );
    assert!(
        answered >= Duration::from_millis(900) && answered < Duration::from_millis(2500),
        "answered after {answered:?}, the timeout is 1 s"
    );

    // The statement began just after the request did: it is stopped within
    // moments of the answer, not seconds later when it would have ended.
    let deadline = Instant::now() + Duration::from_secs(1);
    while statement_running(&t).await {
        assert!(
            Instant::now() < deadline,
            "the statement still runs {:?} after the request started",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The database serves the next request as usual.
    let data = t
        .admin_ok("{ userChangelog(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(data["userChangelog"]["totalCount"], 80_000);
}
