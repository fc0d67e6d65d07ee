//! Report jobs over HTTP: queued, run by the server's workers, downloaded
//! with a bearer token or a signed URL; each format compared row for row
//! with the query that lists the same rows.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::{StreamExt, TryStreamExt};
use headcount::db::{Db, DbOptions};
use headcount::http::ServerConfig;
use headcount::seed::GenerateSpec;
use headcount::service::Principal;
use headcount::service::history::{ChangelogQuery, StoredChange};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};

backend_tests!(
    changelog_report_matches_the_query_in_every_format,
    snapshot_report_matches_the_query,
    signed_url_downloads_without_headers_until_it_expires,
    downloads_are_gzipped_when_asked_and_audited,
    bad_input_creates_no_job,
    scopes_are_checked_before_anything_else,
    jobs_outside_the_tokens_realms_answer_like_missing_ones,
    token_counter_report_matches_the_query,
    audit_report_matches_the_query,
    api_request_report_matches_the_query,
    a_walk_stopped_midway_leaves_the_database_usable,
);

backend_tests!(
    config = small_batches;
    reports_read_in_many_small_batches_match_the_query,
    audit_report_read_in_small_batches_matches_the_query,
    api_request_report_read_in_small_batches_matches_the_query,
);

backend_tests!(
    config = without_workers;
    pending_jobs_cancel_once_and_finished_ones_conflict,
    unfinished_jobs_per_token_are_capped,
    a_job_whose_worker_died_runs_again_exactly_once,
    files_land_whole_in_the_data_directory,
);

/// Jobs stay PENDING: nobody works on them unless a test starts a worker.
fn without_workers() -> ServerConfig {
    let mut config = default_config();
    config.report_workers = 0;
    config
}

/// Reports read one row at a time, two per statement where the database
/// streams them: a few rows take several batches and statements.
fn small_batches() -> ServerConfig {
    let mut config = default_config();
    config.report_reading = headcount::jobs::Reading {
        batch_rows: 1,
        walk_rows: 2,
    };
    config
}

const JOB_FIELDS: &str = "id kind format status ready progress rowCount byteSize error \
    requestedBy createdAt startedAt finishedAt expiresAt downloadUrl";

const CHANGE_NODE: &str = "id date userId userEmail realm updatedBy updaterEmail \
    previouslyEnabled enabled previousStatus status previousRoles roles \
    previousDatasets { datasetId datasetName role } datasets { datasetId datasetName role } \
    changesMade";

const SNAPSHOT_NODE: &str = "asOf userId email name realm createdAt status enabled roles \
    datasets { datasetId datasetName role }";

/// Realms a and b, a dataset, and a few changes, one with text a
/// spreadsheet would run as a formula.
async fn history(t: &TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let dataset = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .expect("datasetId");
    t.clock().set(at("2025-01-02T10:00:00Z"));
    let ann = t.create_user("a", "ann@a.test", &["TEAM_USER"]).await;
    let bob = t.create_user("a", "=cmd@a.test", &["APP_ADMIN"]).await;
    t.create_user("b", "cid@b.test", &[]).await;
    t.clock().set(at("2025-01-03T10:00:00Z"));
    t.admin_ok(
        "mutation($u: Int!, $d: Int!) { setDatasetRole(userId: $u, datasetId: $d, role: \"ANALYST\") { userId } }",
        json!({ "u": ann, "d": dataset }),
    )
    .await;
    t.admin_ok(
        "mutation($u: Int!) { setUserStatus(userId: $u, status: SUSPENDED) { userId } }",
        json!({ "u": bob }),
    )
    .await;
    t.clock().set(at(START));
}

async fn generate(t: &TestServer, secret: &str, mutation: &str, input: Value) -> Value {
    // generateAuditReport takes an AuditReportInput, and so on.
    let input_type = mutation
        .strip_prefix("generate")
        .expect("a generate mutation");
    let query = format!(
        "mutation($input: {input_type}Input!) {{ job: {mutation}(input: $input) {{ {JOB_FIELDS} }} }}"
    );
    t.gql_ok(secret, &query, json!({ "input": input })).await["job"].clone()
}

async fn job(t: &TestServer, secret: &str, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ reportJob(id: $id) {{ {JOB_FIELDS} }} }}");
    t.gql_ok(secret, &query, json!({ "id": id })).await["reportJob"].clone()
}

/// Polls the job until it finishes (the workers start at once; the bound
/// only keeps a broken build from hanging).
async fn finished(t: &TestServer, secret: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = job(t, secret, id).await;
        if ["SUCCESS", "FAILURE", "CANCELLED"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A finished download: status, headers and body.
struct Download {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn download(t: &TestServer, url: &str, secret: Option<&str>, gzip: bool) -> Download {
    let mut request = t.client().get(url);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    let response = request.send().await.expect("the download answers");
    Download {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

fn download_path(t: &TestServer, job: &Value) -> String {
    format!(
        "{}/reports/{}/download",
        t.url(),
        job["id"].as_str().expect("id")
    )
}

/// The CSV cell the contract asks for: lists joined by `;`, a dataset role
/// as `datasetName:role`, formula leads neutralised.
fn csv_cell(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::Bool(b) => return b.to_string(),
        Value::Number(n) => return n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                // An audit event's resource.
                other if other.get("type").is_some() => format!(
                    "{}:{}",
                    other["type"].as_str().expect("type"),
                    other["name"].as_str().expect("name")
                ),
                other => format!(
                    "{}:{}",
                    other["datasetName"].as_str().expect("datasetName"),
                    other["role"].as_str().expect("role")
                ),
            })
            .collect::<Vec<_>>()
            .join(";"),
        Value::Object(_) => panic!("no object columns"),
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// Checks a downloaded file against the query's nodes.
#[track_caller]
fn assert_file_matches(format: &str, body: &[u8], nodes: &[Value]) {
    let text = std::str::from_utf8(body).expect("UTF-8");
    match format {
        "JSON" => {
            let parsed: Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(parsed, Value::Array(nodes.to_vec()));
        }
        "NDJSON" => {
            let parsed: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect();
            assert_eq!(parsed, nodes);
        }
        "CSV" => {
            let mut reader = csv::Reader::from_reader(body);
            let header: Vec<String> = reader
                .headers()
                .expect("a header row")
                .iter()
                .map(str::to_owned)
                .collect();
            if let Some(node) = nodes.first().and_then(Value::as_object) {
                let mut columns: Vec<&String> = header.iter().collect();
                columns.sort();
                assert!(
                    columns.into_iter().eq(node.keys()),
                    "the header names the node's fields: {header:?}"
                );
            }
            let rows: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
                .collect();
            let expected: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| header.iter().map(|c| csv_cell(&n[c])).collect())
                .collect();
            assert_eq!(rows, expected);
            assert!(text.contains("\r\n"), "RFC 4180 ends lines with CRLF");
        }
        other => panic!("format {other}"),
    }
}

async fn changelog_report_matches_the_query_in_every_format(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let args = json!({ "startDate": "2025-01-02T00:00:00Z", "filter": { "realm": ["a"] } });
    let query = format!(
        "query($startDate: DateTime, $filter: UserFilter) {{ userChangelog(startDate: $startDate, filter: $filter, first: 1000) {{ edges {{ node {{ {CHANGE_NODE} }} }} }} }}"
    );
    let expected = nodes(&t.admin_ok(&query, args.clone()).await["userChangelog"]);
    assert_eq!(
        expected.len(),
        4,
        "the history holds four changes in realm a"
    );
    for format in ["CSV", "JSON", "NDJSON"] {
        let mut input = args.clone();
        input["format"] = json!(format);
        let queued = generate(&t, &admin, "generateChangelogReport", input).await;
        assert_eq!(queued["kind"], "USER_CHANGELOG");
        assert_eq!(queued["format"], format);
        assert_eq!(queued["requestedBy"], "admin");
        let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        assert_eq!(job["ready"], true);
        assert_eq!(job["progress"], 1.0);
        assert_eq!(job["rowCount"], 4);
        let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_file_matches(format, &got.body, &expected);
        assert_eq!(job["byteSize"], got.body.len());
        assert_eq!(
            got.headers[CONTENT_LENGTH].to_str().unwrap(),
            got.body.len().to_string()
        );
        let extension = format.to_lowercase();
        let number = got.headers[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            number.starts_with("attachment; filename=\"user-changelog-")
                && number.ends_with(&format!(".{extension}\"")),
            "{number}"
        );
        let content_type = got.headers[CONTENT_TYPE].to_str().unwrap();
        let wanted = match format {
            "CSV" => "text/csv",
            "JSON" => "application/json",
            _ => "application/x-ndjson",
        };
        assert!(content_type.starts_with(wanted), "{content_type}");
    }
}

/// Twelve changes (six statements of two, and an empty one) and realm a's
/// seven (three of two, then one) come out whole and in order, in every
/// format, read one at a time.
async fn reports_read_in_many_small_batches_match_the_query(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    t.clock().set(at("2025-01-02T10:00:00Z"));
    for n in 0..12 {
        let realm = if n < 7 { "a" } else { "b" };
        t.create_user(realm, &format!("user{n}@{realm}.test"), &["TEAM_USER"])
            .await;
    }
    t.clock().set(at(START));
    let admin = t.admin_secret().to_owned();
    let query = format!(
        "query($filter: UserFilter) {{ userChangelog(filter: $filter, first: 1000) {{ edges {{ node {{ {CHANGE_NODE} }} }} }} }}"
    );
    for (args, rows) in [
        (json!({}), 12),
        (json!({ "filter": { "realm": ["a"] } }), 7),
    ] {
        let expected = nodes(&t.admin_ok(&query, args.clone()).await["userChangelog"]);
        assert_eq!(expected.len(), rows, "{args}");
        for format in ["CSV", "JSON", "NDJSON"] {
            let mut input = args.clone();
            input["format"] = json!(format);
            let queued = generate(&t, &admin, "generateChangelogReport", input).await;
            let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
            assert_eq!(job["status"], "SUCCESS", "{job}");
            assert_eq!(job["rowCount"], rows, "{args} {format}");
            assert_eq!(job["progress"], 1.0);
            let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
            assert_file_matches(format, &got.body, &expected);
        }
    }
}

/// A report stopped (cancelled, or taken over) in the middle of a statement
/// drops it with thousands of rows still coming: the connection goes back
/// to the pool and serves the next statements as usual.
async fn a_walk_stopped_midway_leaves_the_database_usable(t: TestServer) {
    let db = Db::connect(t.db_url(), DbOptions::default()).await.unwrap();
    let spec = GenerateSpec {
        users: 2_000,
        changes: 20_000,
        realms: 3,
        seed: 7,
        days: 90,
    };
    headcount::seed::generate(&db, &spec, t.now())
        .await
        .unwrap();
    db.conn().close_by_ref().await.unwrap();
    let history = &t.services().history;
    let system = Principal::system();
    let everything = ChangelogQuery::default();
    for _ in 0..3 {
        let (mut changes, _, _) = history
            .walk_changelog(&system, &everything, None, 100_000)
            .await
            .unwrap();
        changes.next().await.expect("a change").expect("read");
    }
    let (changes, _, _) = history
        .walk_changelog(&system, &everything, None, 100_000)
        .await
        .unwrap();
    let all: Vec<StoredChange> = changes.try_collect().await.unwrap();
    assert_eq!(all.len(), 20_000);
    let keys: Vec<(i64, i64)> = all
        .iter()
        .map(|c| (c.date().timestamp_micros(), c.id))
        .collect();
    assert!(keys.is_sorted(), "in (date, id) order");
    // From the 5,000th change on: the rest, and no more.
    let (rest, _, _) = history
        .walk_changelog(&system, &everything, Some(&all[4_999].cursor()), 100_000)
        .await
        .unwrap();
    let rest: Vec<StoredChange> = rest.try_collect().await.unwrap();
    assert_eq!(rest.len(), 15_000);
    assert_eq!(rest[0].id, all[5_000].id);
    for _ in 0..4 {
        let data = t
            .admin_ok("{ userChangelog(first: 1) { totalCount } }", json!({}))
            .await;
        assert_eq!(data["userChangelog"]["totalCount"], 20_000);
    }
}

async fn audit_report_read_in_small_batches_matches_the_query(t: TestServer) {
    audit_report_matches_the_query(t).await
}

async fn api_request_report_read_in_small_batches_matches_the_query(t: TestServer) {
    api_request_report_matches_the_query(t).await
}

async fn snapshot_report_matches_the_query(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let args = json!({ "date": "2025-01-03T12:00:00Z" });
    let query = format!(
        "query($date: DateTime) {{ userSnapshots(date: $date, first: 1000) {{ edges {{ node {{ {SNAPSHOT_NODE} }} }} }} }}"
    );
    let expected = nodes(&t.admin_ok(&query, args.clone()).await["userSnapshots"]);
    assert_eq!(expected.len(), 3);
    for format in ["CSV", "JSON"] {
        let mut input = args.clone();
        input["format"] = json!(format);
        let queued = generate(&t, &admin, "generateSnapshotReport", input).await;
        let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_file_matches(format, &got.body, &expected);
    }
    // Without a date: the users as they stood when the report was asked for,
    // whatever changes after.
    let queued = generate(
        &t,
        &admin,
        "generateSnapshotReport",
        json!({ "format": "JSON" }),
    )
    .await;
    let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
    assert_eq!(job["rowCount"], 3);
}

async fn signed_url_downloads_without_headers_until_it_expires(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let queued = generate(
        &t,
        &admin,
        "generateChangelogReport",
        json!({ "format": "NDJSON" }),
    )
    .await;
    assert!(
        queued["downloadUrl"].is_null(),
        "no link before the file exists"
    );
    let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
    let url = job["downloadUrl"]
        .as_str()
        .expect("a download URL")
        .to_owned();
    // The server was told no public URL: links name the default one, so
    // the test reaches its own port with the same path and query.
    let path_and_query = &url[url.find("/reports/").expect("a report path")..];
    let link = format!("{}{path_and_query}", t.url());
    let got = download(&t, &link, None, false).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&got.body)
    );
    assert_eq!(std::str::from_utf8(&got.body).unwrap().lines().count(), 5);

    let tampered = link.replace("signature=", "signature=x");
    let expected_forbidden = |d: &Download| {
        assert_eq!(
            d.status,
            StatusCode::FORBIDDEN,
            "{}",
            String::from_utf8_lossy(&d.body)
        );
        let body: Value = serde_json::from_slice(&d.body).expect("problem+json");
        assert_eq!(body["code"], "FORBIDDEN");
        body["detail"].clone()
    };
    let tampered_detail = expected_forbidden(&download(&t, &tampered, None, false).await);
    let query = &link[link.find('?').expect("a query")..];
    let other_job = format!("{}/reports/999999/download{query}", t.url());
    let other_detail = expected_forbidden(&download(&t, &other_job, None, false).await);
    assert_eq!(
        tampered_detail, other_detail,
        "a bad link tells nothing about the job"
    );
    let no_token = download(&t, &download_path(&t, &job), None, false).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);

    // Seven days on, the file and its link are gone.
    t.clock()
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let expired_link = download(&t, &link, None, false).await;
    assert_eq!(expired_link.status, StatusCode::FORBIDDEN);
    let gone = download(&t, &download_path(&t, &job), Some(&admin), false).await;
    assert_eq!(gone.status, StatusCode::GONE);
    let job = job_now(&t, &admin, &job).await;
    assert_eq!(job["ready"], false);
    assert!(job["downloadUrl"].is_null());
}

async fn job_now(t: &TestServer, secret: &str, job: &Value) -> Value {
    self::job(t, secret, job["id"].as_str().unwrap()).await
}

async fn downloads_are_gzipped_when_asked_and_audited(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let mark = t.last_audit_id().await;
    let queued = generate(
        &t,
        &admin,
        "generateChangelogReport",
        json!({ "format": "CSV" }),
    )
    .await;
    let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
    let got = download(&t, &download_path(&t, &job), Some(&admin), true).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers[CONTENT_ENCODING], "gzip");
    assert_eq!(&got.body[..2], &[0x1f, 0x8b], "a gzip stream");
    let events: Vec<String> = t
        .audit_events_since(mark)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        ["report.requested", "report.completed", "report.downloaded"]
    );
}

async fn job_count(t: &TestServer) -> i64 {
    t.admin_ok("{ reportJobs { totalCount } }", json!({})).await["reportJobs"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

async fn bad_input_creates_no_job(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let mutation = format!(
        "mutation($input: ChangelogReportInput!) {{ generateChangelogReport(input: $input) {{ {JOB_FIELDS} }} }}"
    );
    let backwards = json!({ "input": { "startDate": "2025-01-05T00:00:00Z", "endDate": "2025-01-02T00:00:00Z" } });
    assert_bad_input(
        &t.gql(&admin, &mutation, backwards).await,
        "input.startDate",
    );
    let bad_realm = json!({ "input": { "filter": { "realm": ["nowhere"] } } });
    let response = t.gql(&admin, &mutation, bad_realm).await;
    assert!(!errors(&response).is_empty(), "{response}");
    let bad_format = json!({ "input": { "format": "XLSX" } });
    let response = t.gql(&admin, &mutation, bad_format).await;
    assert!(!errors(&response).is_empty(), "{response}");
    assert_eq!(job_count(&t).await, 0, "no job was stored");
}

async fn scopes_are_checked_before_anything_else(t: TestServer) {
    history(&t).await;
    let mutation = format!(
        "mutation($input: ChangelogReportInput!) {{ generateChangelogReport(input: $input) {{ {JOB_FIELDS} }} }}"
    );
    let backwards = json!({ "input": { "startDate": "2025-01-05T00:00:00Z", "endDate": "2025-01-02T00:00:00Z" } });
    let reader = t.token(&["CHANGELOG_READ"], None).await;
    assert_code(
        &t.gql(&reader, &mutation, backwards.clone()).await,
        "FORBIDDEN",
    );
    let reporter = t.token(&["REPORTS_CREATE"], None).await;
    assert_code(&t.gql(&reporter, &mutation, backwards).await, "FORBIDDEN");
    let snapshot = "mutation { generateSnapshotReport(input: {}) { id } }";
    let changelog_only = t.token(&["REPORTS_CREATE", "CHANGELOG_READ"], None).await;
    assert_code(
        &t.gql(&changelog_only, snapshot, json!({})).await,
        "FORBIDDEN",
    );
    assert_code(
        &t.gql(&reader, "{ reportJobs { totalCount } }", json!({}))
            .await,
        "FORBIDDEN",
    );
    assert_eq!(job_count(&t).await, 0);
}

async fn jobs_outside_the_tokens_realms_answer_like_missing_ones(t: TestServer) {
    history(&t).await;
    let scopes = ["REPORTS_CREATE", "CHANGELOG_READ"];
    let only_a = t.token(&scopes, Some(&["a"])).await;
    let only_b = t.token(&scopes, Some(&["b"])).await;
    let a_and_b = t.token(&scopes, Some(&["a", "b"])).await;
    let queued = generate(
        &t,
        &only_a,
        "generateChangelogReport",
        json!({ "format": "JSON" }),
    )
    .await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let job = finished(&t, &only_a, &id).await;
    assert_eq!(job["rowCount"], 4, "a realm-a token reports realm a only");
    // A token that may see realm a (and more) sees it; one bound to b does
    // not, exactly as for an id that does not exist.
    assert_eq!(self::job(&t, &a_and_b, &id).await["id"], id);
    assert!(self::job(&t, &only_b, &id).await.is_null());
    let missing_id = "UmVwb3J0Sm9iOjk5OTk5OQ"; // ReportJob:999999
    assert!(self::job(&t, &only_b, missing_id).await.is_null());
    let cancel = "mutation($id: ID!) { cancelReportJob(id: $id) { id } }";
    let hidden = t.gql(&only_b, cancel, json!({ "id": id })).await;
    let missing = t.gql(&only_b, cancel, json!({ "id": missing_id })).await;
    assert_code(&hidden, "NOT_FOUND");
    assert_code(&missing, "NOT_FOUND");
    let hidden_download = download(&t, &download_path(&t, &job), Some(&only_b), false).await;
    let missing_download = download(
        &t,
        &format!("{}/reports/{missing_id}/download", t.url()),
        Some(&only_b),
        false,
    )
    .await;
    assert_eq!(hidden_download.status, StatusCode::NOT_FOUND);
    assert_eq!(missing_download.status, StatusCode::NOT_FOUND);
    let list = t
        .gql_ok(
            &only_b,
            "{ reportJobs { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(list["reportJobs"]["totalCount"], 0);
    let list = t
        .gql_ok(&a_and_b, "{ reportJobs { totalCount } }", json!({}))
        .await;
    assert_eq!(list["reportJobs"]["totalCount"], 1);
}

async fn pending_jobs_cancel_once_and_finished_ones_conflict(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let queued = generate(&t, &admin, "generateChangelogReport", json!({})).await;
    assert_eq!(queued["status"], "PENDING");
    assert_eq!(queued["format"], "CSV", "CSV unless asked otherwise");
    let cancel = format!("mutation($id: ID!) {{ cancelReportJob(id: $id) {{ {JOB_FIELDS} }} }}");
    let cancelled =
        t.admin_ok(&cancel, json!({ "id": queued["id"] })).await["cancelReportJob"].clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(!cancelled["finishedAt"].is_null());
    assert_code(
        &t.admin(&cancel, json!({ "id": queued["id"] })).await,
        "CONFLICT",
    );
    let early = download(&t, &download_path(&t, &queued), Some(&admin), false).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    let pending = t
        .admin_ok(
            "{ reportJobs(status: [PENDING]) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(pending["reportJobs"]["totalCount"], 0);
}

async fn unfinished_jobs_per_token_are_capped(t: TestServer) {
    history(&t).await;
    let secret = t.token(&["REPORTS_CREATE", "USERS_READ"], None).await;
    let mutation = "mutation { generateSnapshotReport(input: {}) { id status } }";
    for _ in 0..10 {
        t.gql_ok(&secret, mutation, json!({})).await;
    }
    let over = t.gql(&secret, mutation, json!({})).await;
    assert_code(&over, "RATE_LIMITED");
    // Another token has its own allowance.
    let other = t.token(&["REPORTS_CREATE", "USERS_READ"], None).await;
    t.gql_ok(&other, mutation, json!({})).await;
    let listed = t
        .admin_ok(
            "{ reportJobs(first: 3, kind: [USER_SNAPSHOT]) { totalCount pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["reportJobs"]["totalCount"], 11);
    assert_eq!(listed["reportJobs"]["pageInfo"]["hasNextPage"], true);
}

async fn a_job_whose_worker_died_runs_again_exactly_once(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let queued = generate(
        &t,
        &admin,
        "generateChangelogReport",
        json!({ "format": "JSON" }),
    )
    .await;
    let reports = t.services().reports.clone();
    // A worker claims the job and dies without a word.
    let dead = reports
        .claim("dead-worker")
        .await
        .expect("claim")
        .expect("a job to claim");
    assert_eq!(job_now(&t, &admin, &queued).await["status"], "STARTED");
    assert!(
        reports.claim("other").await.expect("claim").is_none(),
        "the lease holds"
    );
    // Its lease runs out; a live worker takes the job over and finishes it.
    t.clock()
        .advance(reports.settings().lease + chrono::Duration::seconds(1));
    let _workers = headcount::jobs::start(
        t.services().clone(),
        headcount::jobs::ReportStore::memory(),
        1,
    );
    let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["rowCount"], 5);
    // The dead worker, were it to wake, can neither renew nor finish it.
    assert!(!reports.renew(&dead, 0.5, 1).await.expect("renew"));
    assert!(!reports.complete(&dead, "x", 1, 1).await.expect("complete"));
    let completed = t
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.event == "report.completed")
        .count();
    assert_eq!(completed, 1, "the job completed exactly once");
}

/// The local store `serve` uses: the finished file under the data
/// directory, whole, with no staging file left beside it.
async fn files_land_whole_in_the_data_directory(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let dir =
        std::env::temp_dir().join(format!("headcount-reports-{:016x}", rand::random::<u64>()));
    let store = headcount::jobs::ReportStore::local(&dir).expect("a local store");
    let queued = generate(
        &t,
        &admin,
        "generateChangelogReport",
        json!({ "format": "NDJSON" }),
    )
    .await;
    let _workers = headcount::jobs::start(t.services().clone(), store, 1);
    let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let files: Vec<std::path::PathBuf> = walk(&dir);
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or_default())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(files.len(), 1, "one file and nothing else: {files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("user-changelog-") && name.ends_with(".ndjson"),
        "{name}"
    );
    assert_eq!(job["byteSize"], sizes[0]);
}

async fn token_counter_report_matches_the_query(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let admin = t.admin_secret().to_owned();
    t.admin_ok(
        "mutation { setReportingPolicy(realm: \"*\", statuses: [TOTAL, ACTIVE]) }",
        json!({}),
    )
    .await;
    let enroll =
        "mutation($s: String!, $r: String!) { enrollToken(input: {serial: $s, realm: $r}) { id } }";
    for (serial, realm) in [("A-1", "a"), ("A-2", "a"), ("B-1", "b")] {
        t.admin_ok(enroll, json!({ "s": serial, "r": realm })).await;
    }
    t.admin_ok(
        "mutation { disableToken(serial: \"A-1\") { id } }",
        json!({}),
    )
    .await;
    let args = json!({ "realms": ["a"] });
    let query = "query($realms: [String!]) { tokenCounters(realms: $realms, first: 1000) { edges { node { id date event realm status count } } } }";
    let expected = nodes(&t.admin_ok(query, args.clone()).await["tokenCounters"]);
    assert_eq!(
        expected.len(),
        6,
        "three events in realm a, two statuses each"
    );
    for format in ["CSV", "JSON"] {
        let mut input = args.clone();
        input["format"] = json!(format);
        let queued = generate(&t, &admin, "generateTokenCounterReport", input).await;
        assert_eq!(queued["kind"], "TOKEN_COUNTERS");
        let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_file_matches(format, &got.body, &expected);
    }
    // The counters' own scope is needed, and a realm beyond the token's
    // bindings is refused before any job exists.
    let without = t.token(&["REPORTS_CREATE"], None).await;
    let mutation = "mutation { generateTokenCounterReport(input: {}) { id } }";
    assert_code(&t.gql(&without, mutation, json!({})).await, "FORBIDDEN");
    let bound = t
        .token(&["REPORTS_CREATE", "COUNTERS_SHOW"], Some(&["a"]))
        .await;
    let other = "mutation { generateTokenCounterReport(input: {realms: [\"b\"]}) { id } }";
    assert_code(&t.gql(&bound, other, json!({})).await, "FORBIDDEN");
    assert_eq!(job_count(&t).await, 2);
}

const AUDIT_NODE: &str = "id date realm event actorId actor ipAddress resources { type name id }";

async fn audit_report_matches_the_query(t: TestServer) {
    history(&t).await;
    let admin = t.admin_secret().to_owned();
    let query = format!(
        "query($window: String, $realm: String) {{ auditEvents(window: $window, realm: $realm, first: 1000) {{ edges {{ node {{ {AUDIT_NODE} }} }} }} }}"
    );
    let args = json!({ "window": "30d", "realm": "a" });
    let expected = nodes(&t.admin_ok(&query, args.clone()).await["auditEvents"]);
    assert!(
        expected.len() >= 4,
        "realm a's history wrote its events: {expected:?}"
    );
    for format in ["CSV", "JSON", "NDJSON"] {
        let mut input = args.clone();
        input["format"] = json!(format);
        let queued = generate(&t, &admin, "generateAuditReport", input).await;
        assert_eq!(queued["kind"], "AUDIT_EVENTS");
        let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_file_matches(format, &got.body, &expected);
        let name = got.headers[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(name.contains("audit-events-"), "{name}");
    }
    // The window was fixed when the report was asked for: a report asked
    // for now and run later holds the events of the window that ended
    // when it was asked for, not of the one that ends when it runs.
    let job = generate(
        &t,
        &admin,
        "generateAuditReport",
        json!({ "window": "30d", "realm": "a", "format": "JSON" }),
    )
    .await;
    t.clock().advance(chrono::Duration::days(40));
    let job = finished(&t, &admin, job["id"].as_str().unwrap()).await;
    assert_eq!(job["rowCount"], expected.len(), "{job}");

    // Bad input names the field inside `input` and stores no job.
    let before = job_count(&t).await;
    let mutation =
        "mutation($input: AuditReportInput!) { generateAuditReport(input: $input) { id } }";
    for (input, field) in [
        (json!({ "window": "7 d" }), "input.window"),
        (
            json!({ "window": "1d", "startDate": "2025-01-01T00:00:00Z" }),
            "input.startDate",
        ),
        (
            json!({ "startDate": "2025-02-01T00:00:00Z", "endDate": "2025-01-01T00:00:00Z" }),
            "input.startDate",
        ),
    ] {
        let answer = t.gql(&admin, mutation, json!({ "input": input })).await;
        assert_bad_input(&answer, field);
    }
    // Realm rules as for the query: a realm beyond the token's is FORBIDDEN,
    // and all permitted realms needs its own scope.
    let bound = t
        .token(&["REPORTS_CREATE", "AUDIT_READ"], Some(&["a"]))
        .await;
    let other = json!({ "input": { "realm": "b" } });
    assert_code(&t.gql(&bound, mutation, other).await, "FORBIDDEN");
    let all = json!({ "input": { "allPermittedRealms": true } });
    assert_code(&t.gql(&bound, mutation, all).await, "FORBIDDEN");
    let without = t.token(&["REPORTS_CREATE"], None).await;
    assert_code(
        &t.gql(&without, mutation, json!({ "input": {} })).await,
        "FORBIDDEN",
    );
    assert_eq!(job_count(&t).await, before);
}

const REQUEST_NODE: &str =
    "id date operation outcome errorCode durationMs tokenName realm ipAddress";

async fn api_request_report_matches_the_query(t: TestServer) {
    let admin = t.admin_secret().to_owned();
    // Requests logged at one moment, some failing; the report then covers
    // up to (not including) a later moment, so the report's own requests,
    // logged then, stay out of it.
    t.clock().set(at("2025-03-01T09:00:00Z"));
    t.create_realm("a").await;
    t.admin_ok("query Realms { realms { name } }", json!({}))
        .await;
    let failing = t
        .gql(&admin, "query Broken { realm(name: 1) }", json!({}))
        .await;
    assert!(failing["errors"].is_array(), "{failing}");
    t.services().request_log.flush().await;
    t.clock().set(at("2025-03-01T10:00:00Z"));
    let args = json!({ "startDate": "2025-03-01T00:00:00Z", "endDate": "2025-03-01T10:00:00Z" });
    let query = format!(
        "query($startDate: DateTime, $endDate: DateTime) {{ apiRequests(startDate: $startDate, endDate: $endDate, first: 1000) {{ edges {{ node {{ {REQUEST_NODE} }} }} }} }}"
    );
    let expected = nodes(&t.admin_ok(&query, args.clone()).await["apiRequests"]);
    assert!(
        expected.len() >= 3
            && expected.iter().any(|n| n["outcome"] == "FAILURE")
            && expected.iter().any(|n| n["operation"] == "Realms"),
        "{expected:?}"
    );
    for format in ["CSV", "JSON", "NDJSON"] {
        let mut input = args.clone();
        input["format"] = json!(format);
        let queued = generate(&t, &admin, "generateApiRequestReport", input).await;
        assert_eq!(queued["kind"], "API_REQUESTS");
        let job = finished(&t, &admin, queued["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        let got = download(&t, &download_path(&t, &job), Some(&admin), false).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_file_matches(format, &got.body, &expected);
    }
    let before = job_count(&t).await;
    let mutation = "mutation($input: ApiRequestReportInput!) { generateApiRequestReport(input: $input) { id } }";
    let answer = t
        .gql(&admin, mutation, json!({ "input": { "window": "-1h" } }))
        .await;
    assert_bad_input(&answer, "input.window");
    let without = t.token(&["REPORTS_CREATE"], None).await;
    assert_code(
        &t.gql(&without, mutation, json!({ "input": {} })).await,
        "FORBIDDEN",
    );
    assert_eq!(job_count(&t).await, before);
}
