//! The API request log: every request recorded off the request path (what
//! is stored), `apiRequests` paged both ways and filtered, `apiRequestStats`
//! per group and UTC bucket, realm isolation, a full queue dropping rather
//! than blocking, and retention.

#[macro_use]
mod common;

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::*;
use entity::api_request;
use headcount::http::ServerConfig;
use headcount::service::requests::PRUNE_BATCH;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

backend_tests!(
    every_request_is_recorded,
    pages_both_ways_and_filters,
    stats_per_group_and_bucket,
    tokens_see_their_realms_requests,
    retention_prunes_in_batches,
);
backend_tests!(config = tiny_queue; a_full_queue_drops_rather_than_blocks);
backend_tests!(config = log_off; a_log_turned_off_records_nothing);
backend_tests!(config = behind_a_proxy; a_trusted_proxy_names_the_client);
backend_tests!(
    forwarded_for_is_ignored_unless_the_proxy_is_trusted,
    operations_differing_only_in_case_are_two,
);

/// The test client (127.0.0.1) is a trusted proxy.
fn behind_a_proxy() -> ServerConfig {
    let mut config = default_config();
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    config
}

/// `--request-log false`, for measuring what the log costs.
fn log_off() -> ServerConfig {
    let mut config = default_config();
    config.request_log.enabled = false;
    config
}

fn tiny_queue() -> ServerConfig {
    let mut config = default_config();
    config.request_log.queue = 2;
    config
}

const REQUESTS: &str = "query($window: String, $start: DateTime, $end: DateTime,
      $outcome: RequestOutcome, $operation: [String!], $first: Int, $after: String,
      $last: Int, $before: String) {
  apiRequests(window: $window, startDate: $start, endDate: $end, outcome: $outcome,
      operation: $operation, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id date operation outcome errorCode durationMs tokenName realm ipAddress } }
  }
}";

/// Writes what was queued, then moves the clock on: ranges are half-open,
/// so what was recorded "now" is read a moment later.
async fn settle(t: &TestServer) {
    t.services().request_log.flush().await;
    t.clock().advance(Duration::seconds(1));
}

async fn requests(t: &TestServer, secret: &str, vars: Value) -> Value {
    let response = t.gql(secret, REQUESTS, vars).await;
    data(&response)["apiRequests"].clone()
}

fn operations(connection: &Value) -> Vec<String> {
    nodes(connection)
        .iter()
        .map(|n| n["operation"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_request_is_recorded(t: TestServer) {
    t.create_realm("acme").await;
    let reader = t.token(&["USERS_READ"], Some(&["acme"])).await;
    settle(&t).await;
    let mark = t.now();
    t.gql_ok(
        &reader,
        "query ListUsers { users(first: 1) { totalCount } }",
        json!({}),
    )
    .await;
    t.gql_ok(&reader, "{ viewer { name } }", json!({})).await;
    let failed = t
        .gql(
            &reader,
            "query TooMany { users(first: 5000) { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&failed, "first");
    let two = "query A { viewer { name } } query B { realms { name } }";
    t.post(
        Some(&reader),
        &json!({ "query": two, "operationName": "B" }),
    )
    .await;
    let unauthenticated = t
        .post(None, &json!({ "query": "query Who { viewer { name } }" }))
        .await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(t.get("/healthz").await.status, 200);
    assert_eq!(t.get("/no/such/route").await.status, 404);
    settle(&t).await;

    let log = requests(&t, t.admin_secret(), json!({ "start": mark, "first": 100 })).await;
    let got: Vec<(String, String, Value, Value, Value)> = nodes(&log)
        .iter()
        .map(|n| {
            (
                n["operation"].as_str().unwrap().to_owned(),
                n["outcome"].as_str().unwrap().to_owned(),
                n["errorCode"].clone(),
                n["tokenName"].clone(),
                n["realm"].clone(),
            )
        })
        .collect();
    let reader_name = nodes(&log)[0]["tokenName"].clone();
    assert!(
        reader_name
            .as_str()
            .is_some_and(|n| n.starts_with("token-"))
    );
    let ok = |op: &str| {
        (
            op.to_owned(),
            "SUCCESS".to_owned(),
            Value::Null,
            reader_name.clone(),
            json!("acme"),
        )
    };
    assert_eq!(
        got,
        [
            ok("ListUsers"),
            ok("anonymous"),
            (
                "TooMany".to_owned(),
                "FAILURE".to_owned(),
                json!("BAD_USER_INPUT"),
                reader_name.clone(),
                json!("acme"),
            ),
            ok("B"),
            (
                "POST /graphql".to_owned(),
                "FAILURE".to_owned(),
                json!("UNAUTHENTICATED"),
                Value::Null,
                Value::Null,
            ),
            (
                "GET /healthz".to_owned(),
                "SUCCESS".to_owned(),
                Value::Null,
                Value::Null,
                Value::Null
            ),
            (
                "GET (no route)".to_owned(),
                "FAILURE".to_owned(),
                json!("HTTP_404"),
                Value::Null,
                Value::Null,
            ),
        ]
    );
    for n in nodes(&log) {
        // The test client is 127.0.0.1: its last octet zeroed.
        assert_eq!(n["ipAddress"], "127.0.0.0", "{n}");
        assert!(n["durationMs"].as_f64().is_some_and(|d| d >= 0.0), "{n}");
        assert_eq!(datetime(&n["date"]), mark);
    }
    assert_eq!(log["totalCount"], 7);
}

async fn pages_both_ways_and_filters(t: TestServer) {
    let start = t.now();
    for i in 0..23 {
        t.clock().advance(Duration::seconds(1));
        if i % 4 == 0 {
            t.get("/no/such/route").await;
        } else {
            t.get("/healthz").await;
        }
    }
    settle(&t).await;
    let admin = t.admin_secret().to_owned();
    let range = json!({ "start": start, "end": t.now() });
    let whole = requests(
        &t,
        &admin,
        json!({ "start": start, "end": t.now(), "first": 100 }),
    )
    .await;
    assert_eq!(whole["totalCount"], 23);
    let ids: Vec<Value> = nodes(&whole).iter().map(|n| n["id"].clone()).collect();
    let dates: Vec<_> = nodes(&whole).iter().map(|n| datetime(&n["date"])).collect();
    assert!(
        dates.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {dates:?}"
    );

    // Forward, five at a time.
    let mut forward = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = requests(
            &t,
            &admin,
            json!({ "start": range["start"], "end": range["end"], "first": 5, "after": after }),
        )
        .await;
        forward.extend(nodes(&page).iter().map(|n| n["id"].clone()));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(forward, ids);

    // Backwards from the newest, as the Cryptolens seed's `ending_before`
    // loop does, while more requests are being served.
    let mut backward: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = requests(
            &t,
            &admin,
            json!({ "start": range["start"], "end": range["end"], "last": 5, "before": before }),
        )
        .await;
        let mut chunk: Vec<Value> = nodes(&page).iter().map(|n| n["id"].clone()).collect();
        assert!(chunk.len() <= 5);
        chunk.extend(backward);
        backward = chunk;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(backward, ids);

    // Filters: outcome and operation (the queries above are in the log too,
    // after `range`).
    let failures = requests(
        &t,
        &admin,
        json!({ "start": range["start"], "end": range["end"], "outcome": "FAILURE" }),
    )
    .await;
    assert_eq!(failures["totalCount"], 6);
    assert!(operations(&failures).iter().all(|o| o == "GET (no route)"));
    let healthz = requests(
        &t,
        &admin,
        json!({ "start": range["start"], "end": range["end"], "operation": ["GET /healthz"] }),
    )
    .await;
    assert_eq!(healthz["totalCount"], 17);
    let window = requests(&t, &admin, json!({ "window": "5s" })).await;
    assert_eq!(
        window["totalCount"], 5,
        "the last 5 seconds hold 5 requests"
    );
    let clash = t
        .gql(
            &admin,
            REQUESTS,
            json!({ "window": "1h", "end": range["end"] }),
        )
        .await;
    assert_bad_input(&clash, "endDate");
    let bad = t.gql(&admin, REQUESTS, json!({ "window": "1.5h" })).await;
    assert_bad_input(&bad, "window");
    let foreign = whole["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let audit = t
        .gql(
            &admin,
            "query($c: String) { auditEvents(after: $c) { totalCount } }",
            json!({ "c": foreign }),
        )
        .await;
    assert_bad_input(&audit, "after");
}

const STATS: &str = "query($start: DateTime, $end: DateTime, $interval: Interval, $group: ApiRequestGroup) {
  apiRequestStats(startDate: $start, endDate: $end, interval: $interval, groupBy: $group) { bucket key count ratio }
}";

async fn stats(t: &TestServer, vars: Value) -> Vec<(Value, String, i64, f64)> {
    let response = t.admin(STATS, vars).await;
    data(&response)["apiRequestStats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["bucket"].clone(),
                s["key"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
                s["ratio"].as_f64().unwrap(),
            )
        })
        .collect()
}

async fn stats_per_group_and_bucket(t: TestServer) {
    // Wednesday 2025-01-15 09:00 UTC: 3 successes, 1 failure; Thursday:
    // 1 success, 1 failure; the next Monday: 2 failures.
    let reader = t.token(&["USERS_READ"], None).await;
    let start = t.now();
    let ok = || t.gql(&reader, "query Ok { viewer { name } }", json!({}));
    let fail = || {
        t.gql(
            &reader,
            "query Bad { users(first: -1) { totalCount } }",
            json!({}),
        )
    };
    for _ in 0..3 {
        ok().await;
    }
    fail().await;
    t.clock().advance(Duration::days(1));
    ok().await;
    fail().await;
    t.clock().advance(Duration::days(4));
    t.post(None, &json!({ "query": "{ viewer { name } }" }))
        .await;
    t.post(None, &json!({ "query": "{ viewer { name } }" }))
        .await;
    settle(&t).await;
    let range = |interval: Value, group: &str| json!({ "start": start, "end": t.now(), "interval": interval, "group": group });
    let day = |d: &str| json!(format!("{d}T00:00:00Z"));
    assert_eq!(
        stats(&t, range(json!("DAY"), "OUTCOME")).await,
        [
            (day("2025-01-15"), "FAILURE".to_owned(), 1, 0.25),
            (day("2025-01-15"), "SUCCESS".to_owned(), 3, 0.75),
            (day("2025-01-16"), "FAILURE".to_owned(), 1, 0.5),
            (day("2025-01-16"), "SUCCESS".to_owned(), 1, 0.5),
            (day("2025-01-20"), "FAILURE".to_owned(), 2, 1.0),
        ]
    );
    assert_eq!(
        stats(&t, range(json!("WEEK"), "OUTCOME")).await,
        [
            (day("2025-01-13"), "FAILURE".to_owned(), 2, 2.0 / 6.0),
            (day("2025-01-13"), "SUCCESS".to_owned(), 4, 4.0 / 6.0),
            (day("2025-01-20"), "FAILURE".to_owned(), 2, 1.0),
        ]
    );
    assert_eq!(
        stats(&t, range(json!("MONTH"), "ERROR_CODE")).await,
        [
            (day("2025-01-01"), "BAD_USER_INPUT".to_owned(), 2, 0.25),
            (day("2025-01-01"), "NONE".to_owned(), 4, 0.5),
            (day("2025-01-01"), "UNAUTHENTICATED".to_owned(), 2, 0.25),
        ]
    );
    assert_eq!(
        stats(&t, range(json!("HOUR"), "OPERATION")).await[0],
        (json!("2025-01-15T09:00:00Z"), "Bad".to_owned(), 1, 0.25)
    );
    let reader_name = t.api_token_rows().await.last().unwrap().name.clone();
    assert_eq!(
        stats(&t, range(Value::Null, "TOKEN")).await,
        [("anonymous".to_owned(), 2, 0.25), (reader_name, 6, 0.75),].map(|(k, c, r)| (
            Value::Null,
            k,
            c,
            r
        ))
    );
    // groupBy defaults to OUTCOME; no interval means no bucket.
    let response = t
        .admin(
            "query($s: DateTime, $e: DateTime) { apiRequestStats(startDate: $s, endDate: $e) { bucket key count } }",
            json!({ "s": start, "e": t.now() }),
        )
        .await;
    assert_eq!(
        data(&response)["apiRequestStats"],
        json!([
            { "bucket": null, "key": "FAILURE", "count": 4 },
            { "bucket": null, "key": "SUCCESS", "count": 4 },
        ])
    );
    assert_bad_input(
        &t.admin(STATS, json!({ "start": t.now(), "end": start }))
            .await,
        "startDate",
    );
    // A count per bucket and key: at most 1000 buckets in one answer.
    let year = json!({ "start": "2024-01-01", "end": "2025-01-01", "interval": "DAY" });
    assert_eq!(
        data(&t.admin(STATS, year).await)["apiRequestStats"],
        json!([])
    );
    let hours = json!({ "start": "2024-11-01", "end": "2025-01-01", "interval": "HOUR" });
    assert_bad_input(&t.admin(STATS, hours).await, "interval");
}

async fn tokens_see_their_realms_requests(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let alpha = t
        .token(&["AUDIT_READ", "USERS_READ"], Some(&["alpha"]))
        .await;
    let beta = t.token(&["USERS_READ"], Some(&["beta"])).await;
    let plain = t.token(&["USERS_READ"], None).await;
    settle(&t).await;
    let start = t.now();
    for secret in [&alpha, &beta, &plain] {
        t.gql_ok(secret, "query Probe { viewer { name } }", json!({}))
            .await;
    }
    settle(&t).await;
    let range = json!({ "start": start, "end": t.now(), "operation": ["Probe"] });
    let seen = requests(&t, &alpha, range.clone()).await;
    assert_eq!(seen["totalCount"], 1);
    assert_eq!(nodes(&seen)[0]["realm"], "alpha");
    let all = requests(&t, t.admin_secret(), range.clone()).await;
    assert_eq!(all["totalCount"], 3);
    let realms: Vec<Value> = nodes(&all).iter().map(|n| n["realm"].clone()).collect();
    assert_eq!(realms, [json!("alpha"), json!("beta"), Value::Null]);
    // By id: another realm's request is as absent as a missing one.
    let node = "query($id: ID!) { node(id: $id) { ... on ApiRequest { operation realm } } }";
    let beta_id = nodes(&all)[1]["id"].clone();
    assert!(t.gql_ok(&alpha, node, json!({ "id": beta_id })).await["node"].is_null());
    let admin_sees = t.admin_ok(node, json!({ "id": beta_id })).await;
    assert_eq!(admin_sees["node"]["realm"], "beta");
    // Reading the log needs AUDIT_READ, checked first.
    assert_code(&t.gql(&plain, REQUESTS, range.clone()).await, "FORBIDDEN");
    let stats_range = json!({ "start": start, "end": t.now() });
    assert_code(&t.gql(&plain, STATS, stats_range).await, "FORBIDDEN");
    assert_code(
        &t.gql(&plain, node, json!({ "id": beta_id })).await,
        "FORBIDDEN",
    );
    let stats = t
        .gql_ok(
            &alpha,
            STATS,
            json!({ "start": start, "end": t.now(), "group": "TOKEN" }),
        )
        .await;
    assert_eq!(
        stats["apiRequestStats"].as_array().unwrap().len(),
        1,
        "{stats}"
    );
}

/// Holds the request log's table so that its writer cannot insert, until
/// the returned transaction is released.
async fn hold_request_table(t: &TestServer) -> sea_orm::DatabaseTransaction {
    let tx = t.db().begin_write().await.expect("begin");
    let lock = match t.backend() {
        // BEGIN IMMEDIATE took SQLite's one write lock already.
        Backend::Sqlite => None,
        Backend::Postgres => Some("LOCK TABLE api_requests IN EXCLUSIVE MODE"),
        Backend::Mysql => Some("LOCK TABLES api_requests WRITE"),
    };
    if let Some(sql) = lock {
        tx.execute_unprepared(sql)
            .await
            .expect("lock the request log");
    }
    tx
}

async fn a_full_queue_drops_rather_than_blocks(t: TestServer) {
    let healthz =
        || api_request::Entity::find().filter(api_request::Column::Operation.eq("GET /healthz"));
    let held = hold_request_table(&t).await;
    let dropped_before = t.services().request_log.dropped();
    const SENT: u64 = 40;
    for _ in 0..SENT {
        let started = Instant::now();
        assert_eq!(t.get("/healthz").await.status, 200);
        assert!(
            started.elapsed() < StdDuration::from_secs(2),
            "a request waited on the request log"
        );
    }
    let dropped = t.services().request_log.dropped() - dropped_before;
    assert!(
        dropped >= SENT - 10,
        "only {dropped} of {SENT} dropped with a queue of 2"
    );
    // The drops are a metric too (process-wide: at least this server's).
    let scraped = t
        .client()
        .get(format!("{}/metrics", t.url()))
        .bearer_auth(t.admin_secret())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = scraped
        .lines()
        .find_map(|l| l.strip_prefix("headcount_request_log_dropped_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no drop counter in {scraped}"));
    assert!(metric >= dropped as f64, "{metric} < {dropped}");
    if t.backend() == Backend::Mysql {
        held.execute_unprepared("UNLOCK TABLES").await.unwrap();
    }
    held.rollback().await.unwrap();
    t.services().request_log.flush().await;
    let written = healthz().count(t.conn()).await.unwrap();
    assert_eq!(written + dropped, SENT);
    assert!(written >= 1);
}

async fn retention_prunes_in_batches(t: TestServer) {
    let old = t.now();
    let rows = (0..PRUNE_BATCH * 2 + 17).map(|i| api_request::ActiveModel {
        occurred_at: Set(headcount::time::to_micros(old) + i as i64),
        operation: Set("Old".to_owned()),
        success: Set(true),
        error_code: Set(None),
        duration_micros: Set(10),
        token_id: Set(None),
        token_name: Set(None),
        realm: Set(None),
        ip_address: Set(None),
        ..Default::default()
    });
    let rows: Vec<_> = rows.collect();
    for chunk in rows.chunks(500) {
        api_request::Entity::insert_many(chunk.to_vec())
            .exec(t.conn())
            .await
            .unwrap();
    }
    // 30 days (the default) keep everything; the 31st day lets them go.
    t.clock().advance(Duration::days(30));
    t.get("/healthz").await;
    t.services().request_log.flush().await;
    assert_eq!(t.services().request_log.prune().await.unwrap(), 0);
    t.clock().advance(Duration::days(1));
    assert_eq!(
        t.services().request_log.prune().await.unwrap(),
        PRUNE_BATCH * 2 + 17
    );
    let left: Vec<String> = api_request::Entity::find()
        .all(t.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert_eq!(left, ["GET /healthz"]);
}

async fn a_log_turned_off_records_nothing(t: TestServer) {
    assert_eq!(t.get("/healthz").await.status, 200);
    t.gql_ok(t.admin_secret(), "query Off { viewer { name } }", json!({}))
        .await;
    assert_eq!(t.get("/no/such/route").await.status, 404);
    settle(&t).await;
    let log = requests(&t, t.admin_secret(), json!({ "window": "1d" })).await;
    assert_eq!(log["totalCount"], 0, "{log}");
    assert_eq!(
        api_request::Entity::find().count(t.conn()).await.unwrap(),
        0
    );
    assert_eq!(t.services().request_log.depth(), 0);
}

/// Sends `query Name { viewer { name } }` as the admin, with these
/// `X-Forwarded-For` values.
async fn forwarded(t: &TestServer, name: &str, hops: &[&str]) {
    let mut request = t
        .client()
        .post(format!("{}/graphql", t.url()))
        .bearer_auth(t.admin_secret())
        .json(&json!({ "query": format!("query {name} {{ viewer {{ name }} }}") }));
    for hop in hops {
        request = request.header("X-Forwarded-For", *hop);
    }
    let response = request.send().await.expect("POST /graphql");
    assert_eq!(response.status(), 200);
}

/// Each named request's recorded (anonymised) address.
async fn addresses(t: &TestServer, names: &[&str]) -> Vec<(String, Value)> {
    settle(t).await;
    let log = requests(
        t,
        t.admin_secret(),
        json!({ "window": "1h", "operation": names, "last": 10 }),
    )
    .await;
    nodes(&log)
        .iter()
        .map(|n| {
            (
                n["operation"].as_str().unwrap().to_owned(),
                n["ipAddress"].clone(),
            )
        })
        .collect()
}

async fn a_trusted_proxy_names_the_client(t: TestServer) {
    forwarded(&t, "Direct", &[]).await;
    forwarded(&t, "Forwarded", &["203.0.113.77"]).await;
    // The client's own claim lies left of what the proxy appended.
    forwarded(&t, "Chain", &["192.0.2.1, 198.51.100.9"]).await;
    forwarded(&t, "Garbage", &["203.0.113.77, not-an-address"]).await;
    forwarded(&t, "Six", &["2001:db8:abcd:12::1"]).await;
    let mut got = addresses(&t, &["Direct", "Forwarded", "Chain", "Garbage", "Six"]).await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("Chain".to_owned(), json!("198.51.100.0")),
            ("Direct".to_owned(), json!("127.0.0.0")),
            ("Forwarded".to_owned(), json!("203.0.113.0")),
            // Nothing left of an entry that is not an address is believed.
            ("Garbage".to_owned(), json!("127.0.0.0")),
            ("Six".to_owned(), json!("2001:db8:abcd::")),
        ]
    );
}

async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted(t: TestServer) {
    forwarded(&t, "Spoofed", &["203.0.113.77"]).await;
    assert_eq!(
        addresses(&t, &["Spoofed"]).await,
        [("Spoofed".to_owned(), json!("127.0.0.0"))]
    );
}

/// Operation names are the client's, compared byte for byte on every
/// backend (MariaDB's default collation once made `GetUsers` and `getusers`
/// one key in the stats' rollup, its GROUP BY and the filter).
async fn operations_differing_only_in_case_are_two(t: TestServer) {
    let start = t.now();
    for name in ["GetUsers", "getusers", "getusers", "GETUSERS"] {
        forwarded(&t, name, &[]).await;
    }
    settle(&t).await;
    // A whole hour from the rollup, and the partial hours from the rows.
    for (start, end) in [
        (start - Duration::hours(2), start + Duration::hours(2)),
        (start, t.now()),
    ] {
        let mut got: Vec<(String, i64)> = stats(
            &t,
            json!({ "start": start, "end": end, "group": "OPERATION" }),
        )
        .await
        .into_iter()
        .map(|(_, key, count, _)| (key, count))
        .filter(|(key, _)| key.eq_ignore_ascii_case("getusers"))
        .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("GETUSERS".to_owned(), 1),
                ("GetUsers".to_owned(), 1),
                ("getusers".to_owned(), 2)
            ]
        );
    }
    let log = requests(
        &t,
        t.admin_secret(),
        json!({ "window": "1h", "operation": ["getusers"], "first": 10 }),
    )
    .await;
    assert_eq!(operations(&log), ["getusers", "getusers"]);
}
