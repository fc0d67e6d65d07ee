//! The `headcount` command: schema, migrate, token create, seed --demo and
//! serve (bootstrap token, GraphiQL, graceful shutdown on SIGTERM).

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

backend_tests!(
    migrate_and_token_create_work_on_the_database,
    seed_demo_writes_history_spread_over_90_days,
);

backend_tests!(config = without_workers; report_command_writes_the_file);

/// The server in the test queues nothing and runs no jobs: the report
/// command's own worker does.
fn without_workers() -> headcount::http::ServerConfig {
    let mut config = default_config();
    config.report_workers = 0;
    config
}

fn headcount(args: &[&str]) -> Output {
    headcount_logging(args, "warn")
}

fn headcount_logging(args: &[&str], log: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HEADCOUNT_DATABASE_URL")
        .env("RUST_LOG", log)
        .output()
        .unwrap_or_else(|e| panic!("run headcount {args:?}: {e}"))
}

#[track_caller]
fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `headcount report`: the file holds the query's rows; bad input is
/// refused before any job exists.
async fn report_command_writes_the_file(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    for (realm, email) in [("a", "ann@a.test"), ("a", "=x@a.test"), ("b", "bob@b.test")] {
        t.create_user(realm, email, &["TEAM_USER"]).await;
    }
    let url = t.db_url().to_owned();
    let dir = std::env::temp_dir().join(format!("headcount-cli-{:016x}", rand::random::<u64>()));
    let data = dir.to_str().unwrap().to_owned();
    let file = dir.join("changes.csv");
    let report = |args: &[&str]| {
        let mut all = vec!["--database-url", url.as_str(), "report"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", data.as_str()]);
        headcount_logging(&all, "warn,headcount::jobs=debug")
    };
    let out = report(&[
        "changelog",
        "--realm",
        "a",
        "--format",
        "csv",
        "-o",
        file.to_str().unwrap(),
    ]);
    succeeded(&out, "report changelog");
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(
        printed.contains("SUCCESS") && printed.contains("wrote"),
        "plain progress lines off a terminal: {printed}"
    );
    assert!(
        printed.contains("the output was written as the report ran"),
        "the command's worker wrote the output, not a copy: {printed}"
    );
    let mut reader = csv::Reader::from_path(&file).expect("the CSV file");
    let header = reader.headers().expect("a header").clone();
    let email = header
        .iter()
        .position(|c| c == "userEmail")
        .expect("a userEmail column");
    let emails: Vec<String> = reader
        .records()
        .map(|r| r.expect("a record")[email].to_owned())
        .collect();
    assert_eq!(
        emails,
        ["ann@a.test", "'=x@a.test"],
        "realm a's changes, oldest first, formulas neutralised"
    );
    let partials: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "no partial file left: {partials:?}");
    // Written by the command's own worker as it ran, beside the stored
    // file: the same bytes, in a file of its own.
    let stored = stored_files(&dir.join("reports"));
    assert_eq!(stored.len(), 1, "one stored report: {stored:?}");
    assert_eq!(
        std::fs::read(&stored[0]).unwrap(),
        std::fs::read(&file).unwrap()
    );
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        std::fs::metadata(&stored[0]).unwrap().ino(),
        std::fs::metadata(&file).unwrap().ino(),
        "the output is not the stored file"
    );

    // JSON to standard output: exactly the query's nodes.
    let out = report(&["snapshot", "--date", START, "--format", "json", "-o", "-"]);
    let printed: serde_json::Value =
        serde_json::from_str(&succeeded(&out, "report snapshot")).expect("JSON on stdout");
    let query = "query($d: DateTime) { userSnapshots(date: $d, first: 100) { edges { node { asOf userId email name realm createdAt status enabled roles datasets { datasetId datasetName role } } } } }";
    let expected = nodes(&t.admin_ok(query, json!({ "d": START })).await["userSnapshots"]);
    assert_eq!(printed, serde_json::Value::Array(expected));

    // Bad input: refused, naming the field or flag, and no job stored.
    use sea_orm::EntityTrait;
    let jobs = || async {
        entity::report_job::Entity::find()
            .all(t.conn())
            .await
            .unwrap()
            .len()
    };
    let before = jobs().await;
    let out = report(&[
        "changelog",
        "--start",
        "2025-02-01T00:00:00Z",
        "--end",
        "2025-01-01T00:00:00Z",
        "-o",
        "-",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("input.startDate"),
        "{out:?}"
    );
    let out = report(&["changelog", "--date", "2025-01-01T00:00:00Z", "-o", "-"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--date does not apply"),
        "{out:?}"
    );
    assert_eq!(jobs().await, before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir`.
fn stored_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if entry.file_type().unwrap().is_dir() {
            files.extend(stored_files(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[test]
fn schema_command_prints_schema_graphql() {
    let printed = succeeded(&headcount(&["schema"]), "headcount schema");
    let on_disk =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"))
            .expect("schema.graphql");
    assert!(
        printed == on_disk,
        "`headcount schema` differs from schema.graphql"
    );
}

async fn migrate_and_token_create_work_on_the_database(t: TestServer) {
    t.create_realm("acme").await;
    let url = t.db_url().to_owned();

    // Migrating an up-to-date database changes nothing and succeeds.
    succeeded(&headcount(&["--database-url", &url, "migrate"]), "migrate");

    let out = succeeded(
        &headcount(&[
            "--database-url",
            &url,
            "token",
            "create",
            "--name",
            "cli-reader",
            "--scope",
            "USERS_READ",
            "--scope",
            "CHANGELOG_READ",
            "--realm",
            "ACME",
            "--expires",
            "2099-01-01T00:00:00Z",
        ]),
        "token create",
    );
    let secret = out.split_whitespace().last().expect("a secret").to_owned();
    let viewer = t
        .gql_ok(&secret, "{ viewer { name scopes realms } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["name"], "cli-reader");
    assert_eq!(
        strings(&viewer["viewer"]["scopes"]),
        sorted(&["CHANGELOG_READ", "USERS_READ"])
    );
    assert_eq!(strings(&viewer["viewer"]["realms"]), sorted(&["acme"]));
    let listed = t
        .admin_ok("{ apiTokens { name expiresAt } }", json!({}))
        .await;
    let token = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tok| tok["name"] == "cli-reader")
        .cloned()
        .expect("listed");
    assert_eq!(datetime(&token["expiresAt"]), at("2099-01-01T00:00:00Z"));

    // The database URL also comes from HEADCOUNT_DATABASE_URL; the secret is
    // printed once, on its own, as the last word.
    let output = Command::new(BIN)
        .args(["token", "create", "--name", "cli-admin", "--scope", "ADMIN"])
        .env("HEADCOUNT_DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run headcount");
    let out = succeeded(&output, "token create (env)");
    let secret = out.split_whitespace().last().unwrap().to_owned();
    assert_eq!(out.matches(&secret).count(), 1, "the secret is shown once");
    let viewer = t
        .gql_ok(&secret, "{ viewer { name realms } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["name"], "cli-admin");
    assert!(viewer["viewer"]["realms"].is_null());

    // Bad flags fail without issuing anything.
    let before = t.counts().await;
    for args in [
        vec!["--scope", "NOT_A_SCOPE"],
        vec!["--scope", "USERS_READ", "--realm", "nowhere"],
        vec!["--scope", "USERS_READ", "--expires", "someday"],
    ] {
        let mut full = vec![
            "--database-url",
            url.as_str(),
            "token",
            "create",
            "--name",
            "bad",
        ];
        full.extend(args.iter().copied());
        let output = headcount(&full);
        assert!(
            !output.status.success(),
            "token create {args:?} should fail"
        );
    }
    assert_eq!(before, t.counts().await);
}

async fn seed_demo_writes_history_spread_over_90_days(t: TestServer) {
    let before = chrono::Utc::now();
    succeeded(
        &headcount(&["--database-url", t.db_url(), "seed", "--demo"]),
        "seed --demo",
    );

    let realms = t.admin_ok("{ realms { name } }", json!({})).await;
    assert_eq!(realms["realms"].as_array().unwrap().len(), 3, "{realms}");
    let users = t
        .admin_ok(
            "{ users(first: 1000) { totalCount edges { node { status roles datasets { role } } } } }",
            json!({}),
        )
        .await;
    let total = users["users"]["totalCount"].as_u64().unwrap();
    assert!((150..=260).contains(&total), "about 200 users, got {total}");
    let people = nodes(&users["users"]);
    assert!(
        people
            .iter()
            .any(|u| !u["roles"].as_array().unwrap().is_empty()),
        "users hold roles"
    );
    assert!(
        people
            .iter()
            .any(|u| !u["datasets"].as_array().unwrap().is_empty()),
        "users hold dataset permissions"
    );
    let statuses: std::collections::BTreeSet<&str> = people
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert!(statuses.len() >= 2, "statuses vary: {statuses:?}");

    // History is dated over the last 90 days, not all "now".
    use sea_orm::{EntityTrait, QueryOrder};
    let rows = entity::user_change::Entity::find()
        .order_by_asc(entity::user_change::Column::ChangedAt)
        .all(t.conn())
        .await
        .unwrap();
    assert!(
        rows.len() as u64 > total,
        "status and role changes beyond creation"
    );
    let first = chrono::DateTime::from_timestamp_micros(rows[0].changed_at).unwrap();
    let last = chrono::DateTime::from_timestamp_micros(rows[rows.len() - 1].changed_at).unwrap();
    assert!(
        last <= chrono::Utc::now(),
        "no history in the future: {last}"
    );
    assert!(
        first >= before - chrono::Duration::days(92),
        "starts about 90 days back: {first}"
    );
    assert!(
        last - first >= chrono::Duration::days(60),
        "spread over time: {first} .. {last}"
    );
    let distinct_days: std::collections::BTreeSet<i64> =
        rows.iter().map(|r| r.changed_at / 86_400_000_000).collect();
    assert!(
        distinct_days.len() >= 30,
        "changes on many days, got {}",
        distinct_days.len()
    );

    // Seeding twice is refused rather than doubling the data.
    let again = headcount(&["--database-url", t.db_url(), "seed", "--demo"]);
    assert!(!again.status.success(), "a second seed --demo is refused");
}

/// `serve` on an empty SQLite database: bootstrap ADMIN token printed and
/// written to an owner-only file, GraphiQL served, SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstraps_an_admin_token_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("headcount-serve-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let result = tokio::spawn(serve_in(dir.clone())).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = result {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn serve_in(dir: std::path::PathBuf) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("hc.db").display());
    let data_dir = dir.join("data");
    let mut child = ServeProcess::start(&url, &data_dir, &[]).await;
    let (addr, printed, pid) = (child.addr.clone(), child.printed.clone(), child.child.id());
    assert!(
        serde_json::from_str::<serde_json::Value>(child.listen_line()).is_ok_and(|v| v.is_object()),
        "--log-format json writes JSON log lines: {}",
        child.listen_line()
    );

    let file = data_dir.join("bootstrap-token");
    let secret = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}\n{printed}", file.display()))
        .trim()
        .to_owned();
    assert!(
        printed.contains(&secret),
        "the bootstrap secret is printed:\n{printed}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "the bootstrap token file is readable by its owner only"
        );
    }

    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&secret)
        .json(&json!({ "query": "{ viewer { name scopes realms } }" }))
        .send()
        .await
        .expect("POST /graphql");
    let body: serde_json::Value = response.json().await.unwrap();
    data(&body);
    assert_eq!(
        strings(&body["data"]["viewer"]["scopes"]),
        sorted(&["ADMIN"]),
        "{body}"
    );
    assert!(body["data"]["viewer"]["realms"].is_null());
    let page = client
        .get(format!("http://{addr}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );

    // SIGTERM: a graceful stop with a zero exit status.
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve stops within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}
