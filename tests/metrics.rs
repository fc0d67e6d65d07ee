//! `GET /metrics`: ADMIN only on the API's address, open on
//! `--metrics-listen`; requests by operation and outcome, latency
//! histograms, the request log's queue and drops, the database pool,
//! report jobs by status.
//!
//! Metrics are global to a process and the backends' tests run in one, so
//! each test names its operations after its backend.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

backend_tests!(metrics_count_requests_for_admins_only);

async fn scrape(t: &TestServer, secret: Option<&str>) -> Reply {
    let mut request = t.client().get(format!("{}/metrics", t.url()));
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    into_reply(request.send().await.expect("GET /metrics")).await
}

/// The value of the sample `name{labels}` in a scrape, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

async fn metrics_count_requests_for_admins_only(t: TestServer) {
    let reader = t.token(&["USERS_READ", "AUDIT_READ"], None).await;
    let unauthenticated = scrape(&t, None).await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.body["code"], "UNAUTHENTICATED");
    let refused = scrape(&t, Some(&reader)).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["code"], "FORBIDDEN");

    let ok = format!("Probe_{}", t.backend().name());
    let bad = format!("Broken_{}", t.backend().name());
    for _ in 0..3 {
        t.gql_ok(
            &reader,
            &format!("query {ok} {{ viewer {{ name }} }}"),
            json!({}),
        )
        .await;
    }
    let failed = t
        .gql(
            &reader,
            &format!("query {bad} {{ users(first: -1) {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert_code(&failed, "BAD_USER_INPUT");
    // Requests are measured by the request log's writer, off the request path.
    t.services().request_log.flush().await;

    let scraped = scrape(&t, Some(t.admin_secret())).await;
    assert_eq!(scraped.status, 200);
    let content_type = scraped.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = scraped.body.as_str().expect("a text body").to_owned();
    let requests = |op: &str, outcome: &str| {
        sample(
            &text,
            &format!("headcount_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(requests(&ok, "SUCCESS"), Some(3.0), "{text}");
    assert_eq!(requests(&bad, "FAILURE"), Some(1.0), "{text}");
    assert_eq!(requests(&ok, "FAILURE"), None);
    // A latency histogram per operation and outcome, with buckets.
    let histogram = format!(
        "headcount_request_duration_seconds_count{{operation=\"{ok}\",outcome=\"SUCCESS\"}}"
    );
    assert_eq!(sample(&text, &histogram), Some(3.0), "{text}");
    let inf = format!(
        "headcount_request_duration_seconds_bucket{{operation=\"{ok}\",outcome=\"SUCCESS\",le=\"+Inf\"}}"
    );
    assert_eq!(sample(&text, &inf), Some(3.0), "{text}");
    // The request log's queue and drops, and the database pool.
    assert!(
        sample(&text, "headcount_request_log_queue_depth").is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "headcount_request_log_dropped_total").is_some(),
        "{text}"
    );
    let max = sample(&text, "headcount_db_pool_max_connections").expect("pool size");
    assert!(max >= 1.0);
    let idle = sample(&text, "headcount_db_pool_connections{state=\"idle\"}").expect("idle");
    let in_use = sample(&text, "headcount_db_pool_connections{state=\"in_use\"}").expect("in use");
    assert!(idle + in_use >= 1.0, "{text}");

    // Scrapes are requests too, in the request log.
    t.services().request_log.flush().await;
    t.clock().advance(chrono::Duration::seconds(1));
    let log = t
        .admin_ok(
            "{ apiRequests(operation: [\"GET /metrics\"]) { edges { node { outcome errorCode tokenName } } } }",
            json!({}),
        )
        .await;
    let outcomes: Vec<_> = nodes(&log["apiRequests"])
        .iter()
        .map(|n| n["errorCode"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            json!("UNAUTHENTICATED"),
            json!("FORBIDDEN"),
            serde_json::Value::Null
        ]
    );
}

/// `--metrics-listen` serves /metrics without a token; the API's address
/// still wants one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_serves_them_without_a_token() {
    in_temp_dir("headcount-metrics", serve_with_metrics).await;
}

/// Runs `body` in a new temporary folder, removed afterwards whatever
/// happens.
async fn in_temp_dir<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!("{prefix}-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let result = tokio::spawn(body(dir.clone())).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = result {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn serve_with_metrics(dir: std::path::PathBuf) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("hc.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let child = ServeProcess::start(
        &url,
        &dir.join("data"),
        &["--metrics-listen", &metrics_addr],
    )
    .await;
    let client = reqwest::Client::new();
    let api = client
        .get(format!("http://{}/metrics", child.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    // The metrics listener is bound before the API's: it answers by now, but
    // allow a moment on a loaded machine. Requests are counted by the request
    // log's writer, off the request path: the 401 above shows up within
    // moments, not necessarily at once.
    let wanted = "headcount_requests_total{operation=\"GET /metrics\",outcome=\"FAILURE\"} 1";
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let scraped = match client
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
        {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                Some(response.text().await.unwrap())
            }
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                None
            }
            Err(err) => panic!("GET {metrics_addr}/metrics: {err}"),
        };
        match scraped {
            Some(text) if text.contains(wanted) || Instant::now() >= deadline => break text,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert!(text.contains("headcount_db_pool_max_connections"), "{text}");
    assert!(text.contains(wanted), "{text}");
}

/// Report jobs by status, counted at scrape time from the shared table (a
/// process of its own: gauges are global to a process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_jobs_are_counted_by_status() {
    in_temp_dir("headcount-jobs", count_report_jobs).await;
}

async fn count_report_jobs(dir: std::path::PathBuf) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("hc.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let data_dir = dir.join("data");
    // No workers: queued jobs stay PENDING.
    let child = ServeProcess::start(
        &url,
        &data_dir,
        &["--metrics-listen", &metrics_addr, "--report-workers", "0"],
    )
    .await;
    let secret = std::fs::read_to_string(data_dir.join("bootstrap-token"))
        .expect("the bootstrap token")
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value| {
        let request = client
            .post(format!("http://{}/graphql", child.addr))
            .bearer_auth(&secret)
            .json(&json!({ "query": query, "variables": variables }));
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            assert!(body.get("errors").is_none(), "{body}");
            body["data"].clone()
        }
    };
    let scrape = || async {
        client
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let jobs = |text: &str, status: &str| {
        sample(
            text,
            &format!("headcount_report_jobs{{status=\"{status}\"}}"),
        )
    };
    let text = scrape().await;
    for status in ["PENDING", "STARTED", "SUCCESS", "FAILURE", "CANCELLED"] {
        assert_eq!(jobs(&text, status), Some(0.0), "{status}: {text}");
    }
    let queue = "mutation { generateChangelogReport(input: {}) { id } }";
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(gql(queue, json!({})).await["generateChangelogReport"]["id"].clone());
    }
    gql(
        "mutation($id: ID!) { cancelReportJob(id: $id) { status } }",
        json!({ "id": ids[0] }),
    )
    .await;
    let text = scrape().await;
    assert_eq!(jobs(&text, "PENDING"), Some(2.0), "{text}");
    assert_eq!(jobs(&text, "CANCELLED"), Some(1.0), "{text}");
    assert_eq!(jobs(&text, "SUCCESS"), Some(0.0), "{text}");
}
