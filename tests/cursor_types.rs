//! A cursor whose key parts have the wrong types (a hand-made one: a string
//! where the connection orders by a number, or the other way round) is
//! BAD_USER_INPUT naming `after` or `before`, on every connection; it never
//! reaches the database (where PostgreSQL failed on it and MySQL read the
//! string as 0).

#[macro_use]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};

backend_tests!(cursor_parts_of_the_wrong_type_are_bad_input);

/// Every connection, as `(name, query)`: the query takes `$after` and
/// `$before` and returns the connection as its only top-level field.
fn connections(user_id: i64) -> Vec<(String, String)> {
    let page = "(first: 1, after: $after, before: $before) { edges { cursor } }";
    let args = "query($after: String, $before: String)";
    let mut all: Vec<(String, String)> = ["USER_ID", "EMAIL", "NAME", "CREATED_AT"]
        .iter()
        .map(|field| {
            let page = page.replacen('(', &format!("(orderBy: {{ field: {field} }}, "), 1);
            (
                format!("users by {field}"),
                format!("{args} {{ users{page} }}"),
            )
        })
        .collect();
    all.push(("datasets".into(), format!("{args} {{ datasets{page} }}")));
    all.push((
        "userSnapshots".into(),
        format!("{args} {{ userSnapshots{page} }}"),
    ));
    all.push((
        "userChangelog".into(),
        format!("{args} {{ userChangelog{page} }}"),
    ));
    let desc = page.replacen('(', "(orderBy: { direction: DESC }, ", 1);
    all.push((
        "userChangelog DESC".into(),
        format!("{args} {{ userChangelog{desc} }}"),
    ));
    all.push((
        "User.changelog".into(),
        format!("{args} {{ user(userId: {user_id}) {{ changelog{page} }} }}"),
    ));
    all
}

/// The connection in a response: the only field of `data` (or of `data.user`).
fn connection(data: &Value) -> &Value {
    let top = data.as_object().unwrap().values().next().unwrap();
    top.get("changelog").unwrap_or(top)
}

/// `{ "<arg>": cursor }`.
fn var(arg: &str, cursor: &str) -> Value {
    let mut vars = serde_json::Map::new();
    vars.insert(arg.to_owned(), json!(cursor));
    Value::Object(vars)
}

fn decode(cursor: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap()
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn cursor_parts_of_the_wrong_type_are_bad_input(t: TestServer) {
    t.create_realm("acme").await;
    t.create_dataset("acme", "Invoices").await;
    let ann = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    t.create_user("acme", "bob@acme.test", &[]).await;
    for (name, query) in connections(ann) {
        let data = t.admin_ok(&query, json!({})).await;
        let cursor = cursors(connection(&data))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{name}: no rows"));
        // The real cursor works both ways.
        for arg in ["after", "before"] {
            t.admin_ok(&query, var(arg, &cursor)).await;
        }
        let [kind, key] = decode(&cursor)
            .as_array()
            .unwrap()
            .clone()
            .try_into()
            .unwrap();
        let key = key.as_array().unwrap().clone();
        for i in 0..key.len() {
            let mut wrong = key.clone();
            wrong[i] = if key[i].is_string() {
                json!(1)
            } else {
                json!("x")
            };
            let forged = encode(&json!([kind, wrong]));
            for arg in ["after", "before"] {
                let response = t.admin(&query, var(arg, &forged)).await;
                assert!(
                    response.get("errors").is_some(),
                    "{name}, part {i} as {}: {response}",
                    wrong[i]
                );
                assert_bad_input(&response, arg);
            }
        }
    }
}
