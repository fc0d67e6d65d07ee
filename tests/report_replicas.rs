//! Report jobs across real `serve` processes on one database: two replicas
//! sharing an S3-compatible store (moto) run every job exactly once and
//! serve each other's files; a worker frozen mid-job loses its lease, the
//! job completes elsewhere, and the frozen worker keeps nothing.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use entity::{audit_event, report_job};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_each_job_once_sqlite() {
    two_replicas_run_each_job_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_each_job_once_postgres() {
    two_replicas_run_each_job_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_each_job_once_mysql() {
    two_replicas_run_each_job_once(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_loses_its_job_postgres() {
    a_frozen_worker_loses_its_job(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_loses_its_job_mysql() {
    a_frozen_worker_loses_its_job(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_loses_its_job_sqlite() {
    a_frozen_worker_loses_its_job(Backend::Sqlite).await;
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("headcount-{name}-{:016x}", rand::random::<u64>()))
}

/// A client of one replica, with the bootstrap ADMIN token. The process
/// itself is kept apart (its output channel is not `Sync`).
struct Replica {
    addr: String,
    pid: u32,
    client: reqwest::Client,
    secret: String,
}

impl Replica {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(format!("{}/graphql", self.url()))
            .bearer_auth(&self.secret)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the replica answers")
            .json()
            .await
            .expect("a JSON answer");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    async fn status(&self, id: &str) -> Value {
        self.gql(
            "query($id: ID!) { reportJob(id: $id) { id status progress rowCount error } }",
            json!({ "id": id }),
        )
        .await["reportJob"]
            .clone()
    }

    async fn download(&self, id: &str) -> (StatusCode, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}/reports/{id}/download", self.url()))
            .bearer_auth(&self.secret)
            .send()
            .await
            .expect("the replica answers");
        let status = response.status();
        (status, response.bytes().await.expect("a body").to_vec())
    }
}

/// Starts replicas on `url` with the given data directories and arguments,
/// one after the other; the bootstrap token is in whichever directory got it (none,
/// when the database had a token already: the caller sets it).
async fn replicas(
    url: &str,
    dirs: &[PathBuf],
    extra: &[&str],
    env: &[(&str, String)],
) -> (Vec<Replica>, Vec<ServeProcess>) {
    // One after the other: the first migrates the empty database.
    let mut processes = Vec::new();
    for dir in dirs {
        let mut process = ServeProcess::spawn_with_env(url, dir, extra, env);
        process.listening().await;
        processes.push(process);
    }
    let secret = dirs
        .iter()
        .find_map(|dir| std::fs::read_to_string(dir.join("bootstrap-token")).ok())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let clients = processes
        .iter()
        .map(|process| Replica {
            addr: process.addr.clone(),
            pid: process.child.id(),
            client: reqwest::Client::new(),
            secret: secret.clone(),
        })
        .collect();
    (clients, processes)
}

/// A realm with `users` users (each one change), made through `replica`.
async fn directory(replica: &Replica, users: usize) {
    replica
        .gql("mutation { createRealm(name: \"a\") { name } }", json!({}))
        .await;
    for n in 0..users {
        replica
            .gql(
                "mutation($e: String!) { createUser(input: {realm: \"a\", email: $e, name: $e}) { userId } }",
                json!({ "e": format!("u{n}@a.test") }),
            )
            .await;
    }
}

async fn wait_finished(replica: &Replica, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job = replica.status(id).await;
        if ["SUCCESS", "FAILURE", "CANCELLED"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `report.completed` events per job number, read from the database.
async fn completions(url: &str) -> Vec<String> {
    let conn = Database::connect(url).await.expect("connect");
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Event.eq("report.completed"))
        .all(&conn)
        .await
        .expect("audit events");
    let _ = conn.close().await;
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| {
            let resources: Value = serde_json::from_str(&e.resources).expect("resources");
            resources[0]["id"].as_str().expect("a job id").to_owned()
        })
        .collect();
    ids.sort();
    ids
}

async fn two_replicas_run_each_job_once(backend: Backend) {
    with_empty_database(backend, |url| async move {
        let s3 = S3Server::start().await;
        s3.create_bucket("reports").await;
        let dir = scratch("replicas");
        let dirs = [dir.join("a"), dir.join("b")];
        // Twelve jobs of one token may all be unfinished at once when the
        // workers are slow to start: the per-token cap (10) is not this
        // test's subject.
        let extra = [
            "--report-store",
            "s3://reports/jobs",
            "--report-workers",
            "2",
            "--report-max-unfinished",
            "12",
        ];
        let (both, processes) = replicas(&url, &dirs, &extra, &s3.env()).await;
        directory(&both[0], 5).await;

        // Twelve jobs, queued alternately through either replica; both
        // replicas' workers pass over each other's claims.
        let mutation =
            "mutation($f: ReportFormat!) { generateChangelogReport(input: {format: $f}) { id } }";
        let mut ids = Vec::new();
        for n in 0..12 {
            let format = ["CSV", "JSON", "NDJSON"][n % 3];
            let job = both[n % 2].gql(mutation, json!({ "f": format })).await;
            ids.push(
                job["generateChangelogReport"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        for (n, id) in ids.iter().enumerate() {
            // Followed, and downloaded, through the other replica.
            let other = &both[(n + 1) % 2];
            let job = wait_finished(other, id, Duration::from_secs(120)).await;
            assert_eq!(job["status"], "SUCCESS", "{job}");
            assert_eq!(job["rowCount"], 5, "five users created: {job}");
            let (status, body) = other.download(id).await;
            assert_eq!(status, StatusCode::OK);
            let (_, again) = both[n % 2].download(id).await;
            assert!(!body.is_empty());
            assert_eq!(body, again, "both replicas serve the one stored file");
        }
        // Exactly once: one completion per job, and the bucket holds one
        // file per job under the prefix (no staging leftovers).
        let conn = Database::connect(&url).await.expect("connect");
        let jobs = report_job::Entity::find().all(&conn).await.expect("jobs");
        let _ = conn.close().await;
        let mut numbers: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();
        numbers.sort();
        assert_eq!(numbers.len(), 12);
        assert!(jobs.iter().all(|j| j.status == "SUCCESS"));
        assert_eq!(
            completions(&url).await,
            numbers,
            "one report.completed per job"
        );
        let keys = s3.keys("reports").await;
        assert_eq!(keys.len(), 12, "{keys:?}");
        assert!(keys.iter().all(|k| k.starts_with("jobs/")), "{keys:?}");
        drop(processes);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// Sends a signal to a process (`STOP` freezes it, `CONT` wakes it).
fn signal(replica: &Replica, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(replica.pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

async fn a_frozen_worker_loses_its_job(backend: Backend) {
    with_empty_database(backend, |url| async move {
        // Enough history that a report takes many batches.
        let seeded = std::process::Command::new(BIN)
            .args([
                "--database-url",
                &url,
                "seed",
                "--users",
                "2000",
                "--changes",
                "40000",
            ])
            .args(["--realms", "1", "--days", "30"])
            .env_remove("HEADCOUNT_DATABASE_URL")
            .output()
            .expect("seed runs");
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let dir = scratch("frozen");
        let store = dir.join("store");
        let store_arg = store.to_str().unwrap().to_owned();
        let args = |workers: &'static str| {
            vec![
                "--report-store".to_owned(),
                store_arg.clone(),
                "--report-workers".to_owned(),
                workers.to_owned(),
                "--report-lease-secs".to_owned(),
                "2".to_owned(),
            ]
        };
        let (a_args, b_args, c_args) = (args("1"), args("0"), args("1"));
        let (a_args, b_args, c_args) = (refs(&a_args), refs(&b_args), refs(&c_args));
        // a has the only worker; b only queues and answers.
        let (mut a, a_process) = replicas(&url, &[dir.join("a")], &a_args, &[]).await;
        let a = a.remove(0);
        let (mut b, b_process) = replicas(&url, &[dir.join("b")], &b_args, &[]).await;
        let mut b = b.remove(0);
        b.secret = a.secret.clone();
        let mutation = "mutation { generateChangelogReport(input: {format: CSV}) { id } }";
        let id = b.gql(mutation, json!({})).await["generateChangelogReport"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // Freeze a as soon as it has written part of the file.
        let deadline = Instant::now() + Duration::from_secs(60);
        let frozen = loop {
            let job = b.status(&id).await;
            if job["status"] == "STARTED" && job["rowCount"].as_i64().unwrap_or(0) > 0 {
                signal(&a, "STOP");
                break job;
            }
            assert!(
                ["PENDING", "STARTED"].contains(&job["status"].as_str().unwrap_or("")),
                "a finished before it could be frozen: {job}"
            );
            assert!(Instant::now() < deadline, "a never started the job");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let still = b.status(&id).await;
        assert_eq!(still["status"], "STARTED");
        assert!(still["progress"].as_f64() < Some(1.0), "{frozen} {still}");
        // A replica with a worker starts: once a's lease has run out it
        // takes the job over and completes it.
        let (mut c, c_process) = replicas(&url, &[dir.join("c")], &c_args, &[]).await;
        let mut c = c.remove(0);
        c.secret = a.secret.clone();
        let job = wait_finished(&c, &id, Duration::from_secs(180)).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
        // a wakes up: its next renewal fails, it stops and keeps nothing.
        signal(&a, "CONT");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(c.status(&id).await["status"], "SUCCESS");
        assert_eq!(completions(&url).await.len(), 1, "completed once");
        let (status, body) = b.download(&id).await;
        assert_eq!(status, StatusCode::OK);
        let rows = csv::Reader::from_reader(body.as_slice()).records().count();
        assert_eq!(
            Some(rows as i64),
            job["rowCount"].as_i64(),
            "the whole history, once"
        );
        let files: Vec<_> = walk(&store);
        assert_eq!(files.len(), 1, "one whole file, no leftovers: {files:?}");
        drop((a_process, b_process, c_process));
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
