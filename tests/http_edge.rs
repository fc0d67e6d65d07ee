//! GraphQL over HTTP as clients expect it (the GraphQL Foundation's spec and
//! its graphql-http audit): Content-Type follows Accept, request errors are
//! 400 without `data` under application/graphql-response+json, GET runs
//! queries but never mutations, and errors outside GraphQL are RFC 7807.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    content_type_follows_accept,
    request_errors_are_400_without_data_for_graphql_response_json,
    legacy_json_keeps_200_for_request_errors,
    post_needs_a_json_body,
    get_runs_queries,
    get_never_runs_mutations,
    browsers_get_graphiql_and_nothing_else_does,
    unacceptable_is_a_problem_document,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// POSTs `body` with `accept` (None: no Accept header) as the admin.
async fn post_accepting(t: &TestServer, accept: Option<&str>, body: &Value) -> Reply {
    let mut request = t
        .client()
        .post(t.endpoint())
        .bearer_auth(t.admin_secret())
        .json(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    into_reply(request.send().await.expect("POST /graphql")).await
}

async fn get_with(t: &TestServer, accept: Option<&str>, params: &[(&str, &str)]) -> Reply {
    let mut request = t
        .client()
        .get(t.endpoint())
        .bearer_auth(t.admin_secret())
        .query(params);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    into_reply(request.send().await.expect("GET /graphql")).await
}

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn content_type_follows_accept(t: TestServer) {
    let body = json!({ "query": "{ viewer { name } }" });
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
    ] {
        let reply = post_accepting(&t, accept, &body).await;
        assert_eq!(reply.status, 200, "{accept:?}: {reply:?}");
        assert!(
            content_type(&reply).starts_with(expected),
            "Accept {accept:?} should get {expected}, got {}",
            content_type(&reply)
        );
        assert_eq!(reply.body["data"]["viewer"]["name"], "admin");
    }
}

async fn request_errors_are_400_without_data_for_graphql_response_json(t: TestServer) {
    let cases = [
        ("parse", json!({ "query": "{ viewer { name " })),
        (
            "validation",
            json!({ "query": "{ viewer { noSuchField } }" }),
        ),
        (
            "variable coercion",
            json!({
                "query": "query($n: Int) { users(first: $n) { totalCount } }",
                "variables": { "n": "many" }
            }),
        ),
        ("no query", json!({ "qeury": "{ viewer { name } }" })),
    ];
    for (what, body) in cases {
        let reply = post_accepting(&t, Some(GRAPHQL_RESPONSE), &body).await;
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
        assert!(content_type(&reply).starts_with(GRAPHQL_RESPONSE), "{what}");
        assert!(
            reply.body.get("data").is_none(),
            "{what}: no data entry: {reply:?}"
        );
        assert_code(&reply.body, "BAD_USER_INPUT");
    }
    // A field error is not a request error: 200 with data.
    let reply = post_accepting(
        &t,
        Some(GRAPHQL_RESPONSE),
        &json!({ "query": "{ user(userId: 1) { email } }" }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.get("data").is_some(), "{reply:?}");
}

async fn legacy_json_keeps_200_for_request_errors(t: TestServer) {
    for query in ["{ viewer { name ", "{ viewer { noSuchField } }"] {
        let reply = post_accepting(&t, Some("application/json"), &json!({ "query": query })).await;
        assert_eq!(reply.status, 200, "{query}: {reply:?}");
        assert!(reply.body.get("data").is_none(), "{reply:?}");
        assert_code(&reply.body, "BAD_USER_INPUT");
    }
    // A body that is not JSON at all is malformed in either type.
    let reply = into_reply(
        t.client()
            .post(t.endpoint())
            .bearer_auth(t.admin_secret())
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_bad_input(&reply.body, "body");
}

async fn post_needs_a_json_body(t: TestServer) {
    let before = t.snapshot().await;
    let mutation = r#"mutation { createRealm(input: { name: "sneaky" }) { name } }"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/json; charset=latin1"),
    ] {
        let mut request = t
            .client()
            .post(t.endpoint())
            .bearer_auth(t.admin_secret())
            .body(json!({ "query": mutation }).to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = into_reply(request.send().await.unwrap()).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {reply:?}");
        assert_bad_input(&reply.body, "Content-Type");
    }
    assert_unchanged(
        &before,
        &t.snapshot().await,
        "a body that is not declared JSON",
    );
}

async fn get_runs_queries(t: TestServer) {
    let reply = get_with(
        &t,
        Some("application/json"),
        &[
            (
                "query",
                "query Who($n: Int) { viewer { name } users(first: $n) { totalCount } }",
            ),
            ("operationName", "Who"),
            ("variables", r#"{"n": 1}"#),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(content_type(&reply).starts_with("application/json"));
    assert_eq!(reply.body["data"]["viewer"]["name"], "admin", "{reply:?}");

    // No Accept header: JSON as well.
    let reply = get_with(&t, None, &[("query", "{ viewer { name } }")]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["data"]["viewer"]["name"], "admin");

    // GET needs a token like POST.
    let anonymous = into_reply(
        t.client()
            .get(t.endpoint())
            .query(&[("query", "{ viewer { name } }")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert_code(&anonymous.body, "UNAUTHENTICATED");

    let reply = get_with(&t, Some(GRAPHQL_RESPONSE), &[("variables", "{}")]).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_bad_input(&reply.body, "query");
    let reply = get_with(
        &t,
        Some(GRAPHQL_RESPONSE),
        &[("query", "{ viewer { name } }"), ("variables", "[1")],
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_bad_input(&reply.body, "variables");
}

async fn get_never_runs_mutations(t: TestServer) {
    let before = t.snapshot().await;
    for (query, operation) in [
        (
            r#"mutation { createRealm(input: { name: "via-get" }) { name } }"#,
            None,
        ),
        (
            r#"query Q { viewer { name } } mutation M { createRealm(input: { name: "via-get" }) { name } }"#,
            Some("M"),
        ),
    ] {
        let mut params = vec![("query", query)];
        if let Some(operation) = operation {
            params.push(("operationName", operation));
        }
        let reply = get_with(&t, Some("application/json"), &params).await;
        assert_eq!(reply.status, 405, "{reply:?}");
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        assert_code(&reply.body, "BAD_USER_INPUT");
    }
    assert_unchanged(&before, &t.snapshot().await, "a mutation sent with GET");
}

async fn browsers_get_graphiql_and_nothing_else_does(t: TestServer) {
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = into_reply(
        t.client()
            .get(t.endpoint())
            .header("accept", browser)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(content_type(&page).starts_with("text/html"), "{page:?}");
    // Without text/html in Accept, a GET is a query, and this one has none.
    let reply = into_reply(t.client().get(t.endpoint()).send().await.unwrap()).await;
    assert_eq!(reply.status, 401, "a query needs a token: {reply:?}");
    let reply = get_with(&t, Some("*/*"), &[]).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_bad_input(&reply.body, "query");
}

async fn unacceptable_is_a_problem_document(t: TestServer) {
    let reply = post_accepting(
        &t,
        Some("image/png"),
        &json!({ "query": "{ viewer { name } }" }),
    )
    .await;
    assert_eq!(reply.status, 406, "{reply:?}");
    assert_eq!(content_type(&reply), "application/problem+json");
    assert_eq!(reply.body["status"], 406, "{reply:?}");
    assert_eq!(reply.body["title"], "Not Acceptable");
    assert_eq!(reply.body["code"], "BAD_USER_INPUT");
    assert_eq!(reply.body["field"], "Accept");
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("application/json"))
    );
}
