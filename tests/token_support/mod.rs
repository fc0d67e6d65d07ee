//! What the token tests share: enrolling and changing tokens, setting
//! policies, and reading the recorded counters straight from the database.

#![allow(dead_code)]

use std::collections::BTreeMap;

use entity::{token_counter, token_counter_day};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::common::{TestServer, data};

/// The fields tests read from a Token.
pub const TOKEN_FIELDS: &str = "id serial kind realm user { userId } active assigned createdAt";

/// Every status, in the contract's order.
pub const ALL_STATUSES: [&str; 10] = [
    "TOTAL",
    "ACTIVE",
    "INACTIVE",
    "ASSIGNED",
    "UNASSIGNED",
    "ACTIVE_ASSIGNED",
    "ACTIVE_UNASSIGNED",
    "INACTIVE_ASSIGNED",
    "INACTIVE_UNASSIGNED",
    "TOTAL_USERS",
];

/// A recorded row as compared in tests: (event, realm, status, count).
pub type Row = (String, String, String, i64);

pub fn row(event: &str, realm: &str, status: &str, count: i64) -> Row {
    (event.to_owned(), realm.to_owned(), status.to_owned(), count)
}

/// Sets a realm's reporting policy as the admin.
pub async fn set_policy(t: &TestServer, realm: &str, statuses: &[&str]) {
    t.admin_ok(
        "mutation($r: String!, $s: [TokenStatus!]!) { setReportingPolicy(realm: $r, statuses: $s) }",
        json!({ "r": realm, "s": statuses }),
    )
    .await;
}

/// Runs a token mutation as `secret` and returns the whole response.
pub async fn token_op(t: &TestServer, secret: &str, op: &str, args: Value) -> Value {
    let (params, call) = match op {
        "enrollToken" => ("$input: EnrollTokenInput!", "enrollToken(input: $input)"),
        "assignToken" => (
            "$serial: String!, $userId: Int!",
            "assignToken(serial: $serial, userId: $userId)",
        ),
        "setTokenRealm" => (
            "$serial: String!, $realm: String",
            "setTokenRealm(serial: $serial, realm: $realm)",
        ),
        "unassignToken" => ("$serial: String!", "unassignToken(serial: $serial)"),
        "enableToken" => ("$serial: String!", "enableToken(serial: $serial)"),
        "disableToken" => ("$serial: String!", "disableToken(serial: $serial)"),
        "removeToken" => ("$serial: String!", "removeToken(serial: $serial)"),
        other => panic!("no token mutation {other}"),
    };
    let query = format!("mutation({params}) {{ {call} {{ {TOKEN_FIELDS} }} }}");
    t.gql(secret, &query, args).await
}

/// Like `token_op` as the admin, which must succeed; returns the token.
pub async fn admin_op(t: &TestServer, op: &str, args: Value) -> Value {
    let response = token_op(t, t.admin_secret(), op, args).await;
    data(&response)[op].clone()
}

/// Enrols a token as the admin: `realm` and `user` optional.
pub async fn enroll(t: &TestServer, serial: &str, realm: Option<&str>, user: Option<i64>) -> Value {
    admin_op(
        t,
        "enrollToken",
        json!({ "input": { "serial": serial, "realm": realm, "userId": user } }),
    )
    .await
}

/// Every recorded counter row, oldest first.
pub async fn counter_rows(t: &TestServer) -> Vec<Row> {
    token_counter::Entity::find()
        .order_by_asc(token_counter::Column::Id)
        .all(t.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.event, r.realm, r.status, r.count))
        .collect()
}

/// The number of recorded counter rows.
pub async fn counter_count(t: &TestServer) -> usize {
    counter_rows(t).await.len()
}

/// `[RealmTokenCounts]` as (realm, status, count) triples.
pub fn counts(value: &Value) -> Vec<(String, String, Option<i64>)> {
    let mut out = Vec::new();
    for realm in value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
    {
        let name = realm["realm"].as_str().expect("realm").to_owned();
        for count in realm["counts"].as_array().expect("counts") {
            out.push((
                name.clone(),
                count["status"].as_str().expect("status").to_owned(),
                count["count"].as_i64(),
            ));
        }
    }
    out
}

pub fn triple(realm: &str, status: &str, count: Option<i64>) -> (String, String, Option<i64>) {
    (realm.to_owned(), status.to_owned(), count)
}

/// The daily highs as stored, and as recomputed from every counter row:
/// (realm, status, day) → highest count, for realms matching `keep`.
pub async fn daily_highs(
    t: &TestServer,
    keep: impl Fn(&str) -> bool,
) -> (
    BTreeMap<(String, String, i32), i64>,
    BTreeMap<(String, String, i32), i64>,
) {
    let stored = token_counter_day::Entity::find()
        .all(t.conn())
        .await
        .unwrap()
        .into_iter()
        .filter(|d| keep(&d.realm))
        .map(|d| ((d.realm, d.status, d.day), d.highest))
        .collect();
    let mut recomputed: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    for r in token_counter::Entity::find().all(t.conn()).await.unwrap() {
        if !keep(&r.realm) {
            continue;
        }
        let day = r.recorded_at.div_euclid(86_400_000_000) as i32;
        let high = recomputed
            .entry((r.realm, r.status, day))
            .or_insert(r.count);
        *high = (*high).max(r.count);
    }
    (stored, recomputed)
}
