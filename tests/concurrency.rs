//! Concurrent writers and readers on every backend: writers of one realm all
//! succeed (MariaDB once lost a third of them to deadlocks on the daily count
//! rows) and the counts stay exact; two `createDataset` with one name end in
//! one dataset and a CONFLICT; `userSummary` reads one snapshot; two
//! replicas starting together on an empty database issue one bootstrap token.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use sea_orm::{Database, EntityTrait, PaginatorTrait};
use serde_json::json;

backend_tests!(
    sixteen_writers_of_one_realm_all_succeed,
    concurrent_create_dataset_with_one_name_is_one_conflict,
    user_summary_reads_one_snapshot_while_users_change,
);

const WRITERS: usize = 16;
const CALLS_PER_WRITER: usize = 12;

/// Each writer changes its own user: roles and status in turn.
async fn write_concurrently(t: &TestServer, users: &[i64]) {
    let mut tasks = Vec::new();
    for (writer, &user) in users.iter().enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for call in 0..CALLS_PER_WRITER {
                let (query, variables) = match (writer + call) % 3 {
                    0 => (
                        "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"TEAM_USER\", \"APP_ADMIN\"]) { userId } }",
                        json!({ "id": user }),
                    ),
                    1 => (
                        "mutation($id: Int!, $s: UserStatus!) { setUserStatus(userId: $id, status: $s) { userId } }",
                        json!({ "id": user, "s": if call % 2 == 0 { "DORMANT" } else { "SUSPENDED" } }),
                    ),
                    _ => (
                        "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
                        json!({ "id": user }),
                    ),
                };
                let reply = t.admin(query, variables).await;
                if reply.get("errors").is_some() {
                    failures.push(reply);
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.expect("a writer task"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} concurrent calls failed on {}, e.g. {}",
        failures.len(),
        WRITERS * CALLS_PER_WRITER,
        t.backend().name(),
        failures[0]
    );
}

/// `userSummary` of the realm, as (key, count): `status:X` and `role:X`.
async fn summary_counts(t: &TestServer, realm: &str) -> BTreeMap<String, i64> {
    let data = t
        .admin_ok(
            "query($realm: String) { userSummary(realm: $realm) {
                users { active dormant suspended total }
                appRoles { role count } } }",
            json!({ "realm": realm }),
        )
        .await;
    let summary = &data["userSummary"];
    let mut counts = BTreeMap::new();
    for status in ["active", "dormant", "suspended", "total"] {
        counts.insert(
            format!("status:{status}"),
            summary["users"][status].as_i64().unwrap(),
        );
    }
    for role in summary["appRoles"].as_array().unwrap() {
        let count = role["count"].as_i64().unwrap();
        if count != 0 {
            counts.insert(format!("role:{}", role["role"].as_str().unwrap()), count);
        }
    }
    counts
}

/// The same counts, recounted from the users as they are.
async fn recount(t: &TestServer, realm: &str) -> BTreeMap<String, i64> {
    let data = t
        .admin_ok(
            "query($realm: String!) { users(filter: {realm: [$realm]}, first: 100) {
                totalCount edges { node { status roles } } } }",
            json!({ "realm": realm }),
        )
        .await;
    let users = nodes(&data["users"]);
    assert!(users.len() < 100, "one page holds every user");
    let mut counts = BTreeMap::new();
    for status in ["active", "dormant", "suspended"] {
        counts.insert(format!("status:{status}"), 0);
    }
    counts.insert("status:total".to_owned(), users.len() as i64);
    for user in &users {
        let status = user["status"].as_str().unwrap().to_lowercase();
        *counts.entry(format!("status:{status}")).or_default() += 1;
        for role in strings(&user["roles"]) {
            *counts.entry(format!("role:{role}")).or_default() += 1;
        }
    }
    counts
}

async fn sixteen_writers_of_one_realm_all_succeed(t: TestServer) {
    t.create_realm("acme").await;
    // Another realm's users sit between this realm's in every index.
    t.create_realm("globex").await;
    let mut users = Vec::new();
    for i in 0..WRITERS {
        users.push(
            t.create_user("acme", &format!("u{i}@acme.test"), &["TEAM_USER"])
                .await,
        );
        t.create_user("globex", &format!("u{i}@globex.test"), &["TEAM_USER"])
            .await;
    }

    // An ordinary day: the realm's count rows of the day exist already.
    write_concurrently(&t, &users).await;
    assert_eq!(summary_counts(&t, "acme").await, recount(&t, "acme").await);

    // A new day: the first changes of the day insert the day's rows.
    t.clock().advance(chrono::Duration::days(1));
    write_concurrently(&t, &users).await;
    assert_eq!(summary_counts(&t, "acme").await, recount(&t, "acme").await);
    assert_eq!(
        summary_counts(&t, "globex").await,
        recount(&t, "globex").await
    );

    // Every call that changed something left one history entry.
    let mut entries = 0;
    for &user in &users {
        entries += t.user_change_rows(user).await.len();
    }
    assert!(
        entries > WRITERS * (1 + CALLS_PER_WRITER),
        "history: {entries} entries"
    );
}

async fn concurrent_create_dataset_with_one_name_is_one_conflict(t: TestServer) {
    t.create_realm("acme").await;
    for round in 0..3 {
        let name = format!("Invoices {round}");
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let t = t.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                t.admin(
                    "mutation($name: String!) { createDataset(realm: \"acme\", name: $name) { datasetId } }",
                    json!({ "name": name }),
                )
                .await
            }));
        }
        let mut created = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            if reply.get("errors").is_none() {
                created += 1;
            } else {
                assert_code(&reply, "CONFLICT");
                assert_eq!(reply["errors"][0]["extensions"]["field"], "name", "{reply}");
            }
        }
        assert_eq!(created, 1, "one of eight requests creates '{name}'");
    }
    let data = t
        .admin_ok(
            "{ datasets(realm: \"acme\", first: 10) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["datasets"]["totalCount"], 3, "{data}");
}

/// While every user's role flips back and forth, each summary still counts
/// every user once: the total never moves, and the role count stays within
/// the realm's size.
async fn user_summary_reads_one_snapshot_while_users_change(t: TestServer) {
    t.create_realm("acme").await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(
            t.create_user("acme", &format!("u{i}@acme.test"), &["TEAM_USER"])
                .await,
        );
    }
    let writers: Vec<_> = users
        .iter()
        .map(|&user| {
            let t = t.clone();
            tokio::spawn(async move {
                for call in 0..10 {
                    let roles: &[&str] = if call % 2 == 0 {
                        &["TEAM_USER", "APP_ADMIN"]
                    } else {
                        &["TEAM_USER"]
                    };
                    t.admin_ok(
                        "mutation($id: Int!, $roles: [String!]!) { setUserRoles(userId: $id, roles: $roles) { userId } }",
                        json!({ "id": user, "roles": roles }),
                    )
                    .await;
                }
            })
        })
        .collect();
    let mut summaries = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        let counts = summary_counts(&t, "acme").await;
        assert_eq!(counts["status:total"], 8, "{counts:?}");
        assert_eq!(counts["status:active"], 8, "{counts:?}");
        assert_eq!(counts.get("role:TEAM_USER"), Some(&8), "{counts:?}");
        let admins = counts.get("role:APP_ADMIN").copied().unwrap_or(0);
        assert!((0..=8).contains(&admins), "{counts:?}");
        summaries += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(summaries > 0);
    assert_eq!(summary_counts(&t, "acme").await, recount(&t, "acme").await);
}

// ───────────────── two replicas on one empty database ─────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_an_empty_postgres_database_issue_one_token() {
    two_replicas_issue_one_token(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_an_empty_mysql_database_issue_one_token() {
    two_replicas_issue_one_token(Backend::Mysql).await;
}

/// Two `serve` processes started at once on a database without tables:
/// both migrate (one waits for the other), both serve, and one of them
/// issues the bootstrap ADMIN token.
async fn two_replicas_issue_one_token(backend: Backend) {
    with_empty_database(backend, |url| async move {
        let dir =
            std::env::temp_dir().join(format!("headcount-replicas-{:016x}", rand::random::<u64>()));
        let mut a = ServeProcess::spawn(&url, &dir.join("a"), &[]);
        let mut b = ServeProcess::spawn(&url, &dir.join("b"), &[]);
        a.listening().await;
        b.listening().await;
        let announced = [&a, &b]
            .iter()
            .filter(|p| p.printed.contains("Created a bootstrap ADMIN API token"))
            .count();
        let files: Vec<String> = ["a", "b"]
            .iter()
            .filter_map(|d| std::fs::read_to_string(dir.join(d).join("bootstrap-token")).ok())
            .collect();
        let conn = Database::connect(&url).await.unwrap();
        let tokens = entity::api_token::Entity::find()
            .count(&conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(tokens, 1, "one bootstrap token in the database");
        assert_eq!(announced, 1, "one of the two replicas announced it");
        assert_eq!(files.len(), 1, "one bootstrap-token file");
        assert!(files[0].trim().starts_with("hc_"));
    })
    .await;
}
