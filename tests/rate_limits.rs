//! Rate limits per API token and per client address (without a valid token),
//! the IETF rate-limit header fields, and failed sign-ins that cannot flood
//! the activity log or hold the write lock against real users.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use futures::future::join_all;
use headcount::http::ServerConfig;
use serde_json::json;

backend_tests!(config = five_per_minute; tokens_and_addresses_have_their_own_quota);
backend_tests!(config = production_limits; a_flood_of_failed_sign_ins_is_one_event);
backend_tests!(rate_limits_can_be_turned_off);

fn five_per_minute() -> ServerConfig {
    let mut config = default_config();
    config.limits.rate_limit_per_minute = 5;
    config
}

fn production_limits() -> ServerConfig {
    ServerConfig::default()
}

const VIEWER: &str = "{ viewer { name } }";

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {reply:?}"))
}

async fn tokens_and_addresses_have_their_own_quota(t: TestServer) {
    let reader = t.token(&["USERS_READ"], None).await;
    let body = json!({ "query": VIEWER });
    for remaining in (0..5).rev() {
        let reply = t.post(Some(&reader), &body).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(header(&reply, "ratelimit-policy"), "\"token\";q=5;w=60");
        let standing = header(&reply, "ratelimit");
        assert!(
            standing.starts_with(&format!("\"token\";r={remaining};t=")),
            "{standing}"
        );
    }
    let limited = t.post(Some(&reader), &body).await;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_code(&limited.body, "RATE_LIMITED");
    let retry: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one request back every 12 s: {retry}"
    );
    assert_eq!(
        errors(&limited.body)[0]["extensions"]["retryAfter"],
        json!(retry)
    );
    assert!(header(&limited, "ratelimit").starts_with("\"token\";r=0;"));

    // Another token has a quota of its own.
    let other = t.token(&["USERS_READ"], None).await;
    assert_eq!(t.post(Some(&other), &body).await.status, 200);

    // Without a valid token, the address's quota is spent: 401 until it is
    // gone, then 429; a valid token from the same address still works.
    for _ in 0..5 {
        let reply = t.post(Some("hc_nope_nope"), &body).await;
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(header(&reply, "ratelimit-policy"), "\"address\";q=5;w=60");
    }
    let limited = t.post(None, &body).await;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_code(&limited.body, "RATE_LIMITED");
    header(&limited, "retry-after");
    assert_eq!(t.post(Some(&other), &body).await.status, 200);
}

async fn rate_limits_can_be_turned_off(t: TestServer) {
    let body = json!({ "query": VIEWER });
    for _ in 0..700 {
        let reply = t.post(Some(t.admin_secret()), &body).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.headers.get("ratelimit").is_none());
    }
}

/// 5,000 requests without a valid token, from one address, while a real
/// user keeps writing: the writes all succeed and the activity log gets one
/// event counting every attempt.
async fn a_flood_of_failed_sign_ins_is_one_event(t: TestServer) {
    const FLOOD: u64 = 5_000;
    let mark = t.last_audit_id().await;
    let realm = "acme";
    t.create_realm(realm).await;
    let user = t.create_user(realm, "ada@example.com", &[]).await;
    let writer = t.token(&["USERS_WRITE", "USERS_READ"], None).await;

    let started = std::time::Instant::now();
    let flood = {
        let t = t.clone();
        tokio::spawn(async move {
            let body = json!({ "query": VIEWER });
            let mut statuses = Vec::new();
            for wave in 0..(FLOOD / 50) {
                let secret = format!("hc_flood{wave}_nope");
                let replies = join_all((0..50).map(|_| t.post(Some(&secret), &body))).await;
                statuses.extend(replies.into_iter().map(|r| r.status.as_u16()));
            }
            statuses
        })
    };
    let mutation =
        "mutation($id: Int!, $r: [String!]!) { setUserRoles(userId: $id, roles: $r) { roles } }";
    let mut writes = 0;
    while !flood.is_finished() {
        let roles = if writes % 2 == 0 {
            json!(["TEAM_USER"])
        } else {
            json!([])
        };
        let response = t
            .gql(&writer, mutation, json!({ "id": user, "r": roles }))
            .await;
        data(&response);
        writes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses = flood.await.unwrap();
    assert!(writes > 0);
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // The quota of 600, and one more every 100 ms the flood lasted.
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let bound = 600 + (started.elapsed().as_millis() / 100) as usize + 1;
    assert!(
        (600..=bound).contains(&refused),
        "{refused} 401s, at most {bound}"
    );

    let event = failed_sign_ins(&t, mark, FLOOD).await;
    assert_eq!(event.ip_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        t.changelog(user).await.len(),
        writes + 1,
        "every write was kept"
    );
}
