//! Relay connection checks shared by every paged query's tests: page info,
//! flags, and whole walks forward and backward.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

/// startCursor/endCursor are the first and last edges' cursors.
#[track_caller]
pub fn check_page_info(page: &Value) {
    let cursors = cursors(page);
    let info = &page["pageInfo"];
    match (cursors.first(), cursors.last()) {
        (Some(first), Some(last)) => {
            assert_eq!(info["startCursor"], first.as_str(), "{page}");
            assert_eq!(info["endCursor"], last.as_str(), "{page}");
        }
        _ => {
            assert!(info["startCursor"].is_null(), "{page}");
            assert!(info["endCursor"].is_null(), "{page}");
        }
    }
}

/// (hasPreviousPage, hasNextPage).
pub fn flags(page: &Value) -> (bool, bool) {
    (
        page["pageInfo"]["hasPreviousPage"]
            .as_bool()
            .expect("hasPreviousPage"),
        page["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage"),
    )
}

/// One connection page: `query` must take `$first $after $last $before`
/// and select the connection as `field`.
pub async fn page(t: &TestServer, secret: &str, query: &str, field: &str, vars: Value) -> Value {
    let data = t.gql_ok(secret, query, vars).await;
    let page = data[field].clone();
    check_page_info(&page);
    page
}

/// Walks every page forward (`first: size`, `after`), checking both flags
/// on every page against `total`, the number of nodes there are.
pub async fn walk_forward(
    t: &TestServer,
    secret: &str,
    (query, field): (&str, &str),
    vars: &Value,
    size: usize,
    total: usize,
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=total / size.max(1) + 1 {
        let page = page(
            t,
            secret,
            query,
            field,
            with(vars, json!({ "first": size, "after": after })),
        )
        .await;
        let nodes = nodes(&page);
        assert!(nodes.len() <= size, "a page holds at most {size}: {page}");
        let had = seen.len();
        seen.extend(nodes);
        assert_eq!(
            flags(&page),
            (had > 0, seen.len() < total),
            "forward page after {had} of {total} nodes (hasPreviousPage, hasNextPage): {page}"
        );
        if !flags(&page).1 {
            return seen;
        }
        after = Some(
            page["pageInfo"]["endCursor"]
                .as_str()
                .expect("a page with a next page has an endCursor")
                .to_owned(),
        );
    }
    panic!("the forward walk did not end after {} nodes", seen.len());
}

/// Walks every page backward (`last: size`, `before`) from the end; returns
/// the nodes in list order.
pub async fn walk_backward(
    t: &TestServer,
    secret: &str,
    (query, field): (&str, &str),
    vars: &Value,
    size: usize,
    total: usize,
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..=total / size.max(1) + 1 {
        let page = page(
            t,
            secret,
            query,
            field,
            with(vars, json!({ "last": size, "before": before })),
        )
        .await;
        let mut nodes = nodes(&page);
        assert!(nodes.len() <= size, "a page holds at most {size}: {page}");
        let had = seen.len();
        nodes.extend(seen);
        seen = nodes;
        assert_eq!(
            flags(&page),
            (seen.len() < total, had > 0),
            "backward page before the last {had} of {total} nodes (hasPreviousPage, hasNextPage): {page}"
        );
        if !flags(&page).0 {
            return seen;
        }
        before = Some(
            page["pageInfo"]["startCursor"]
                .as_str()
                .expect("a page with a previous page has a startCursor")
                .to_owned(),
        );
    }
    panic!("the backward walk did not end after {} nodes", seen.len());
}

pub fn ids_of(nodes: &[Value], field: &str) -> Vec<Value> {
    nodes.iter().map(|n| n[field].clone()).collect()
}

#[track_caller]
pub fn assert_no_duplicates(nodes: &[Value], field: &str) {
    let ids = ids_of(nodes, field);
    let distinct: BTreeSet<String> = ids.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), ids.len(), "duplicates in {ids:?}");
}

/// `base` with the keys of `extra` added (or replaced).
pub fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    let object = out.as_object_mut().expect("variables are an object");
    for (key, value) in extra.as_object().expect("an object").clone() {
        object.insert(key, value);
    }
    out
}
