//! The HTTP surface: probes, GraphiQL, CORS, and the request limits (body
//! size, query depth and complexity).

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use headcount::config::Limits;
use headcount::http::ServerConfig;
use serde_json::{Value, json};

backend_tests!(
    probes_answer,
    graphiql_is_served_on_get,
    no_cors_by_default,
    too_deep_queries_are_rejected,
    too_complex_queries_are_rejected,
    repeated_documents_are_validated_every_time_it_matters,
    readiness_follows_the_database,
);
backend_tests!(config = charts_origin; cors_allows_listed_origins_only);
backend_tests!(config = small_body; oversized_bodies_are_rejected);

const ALLOWED: &str = "https://charts.example.com";
const BODY_LIMIT: usize = 16 * 1024;

fn charts_origin() -> ServerConfig {
    ServerConfig {
        cors_origins: vec![ALLOWED.to_owned(), "https://bi.example.org".to_owned()],
        ..ServerConfig::default()
    }
}

fn small_body() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            body_limit: BODY_LIMIT,
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

async fn probes_answer(t: TestServer) {
    let health = t.get("/healthz").await;
    assert_eq!(health.status, 200, "{health:?}");
    let ready = t.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
}

async fn graphiql_is_served_on_get(t: TestServer) {
    let response = t
        .client()
        .get(t.endpoint())
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(
        html.to_lowercase().contains("graphiql"),
        "not GraphiQL: {html:.200}"
    );
    assert!(html.contains("/graphql"), "GraphiQL points at /graphql");
}

/// Sends a CORS preflight for POST /graphql from `origin`.
async fn preflight(t: &TestServer, origin: &str) -> reqwest::Response {
    t.client()
        .request(reqwest::Method::OPTIONS, t.endpoint())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("OPTIONS /graphql")
}

fn allow_origin(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn post_from(t: &TestServer, origin: &str) -> reqwest::Response {
    t.client()
        .post(t.endpoint())
        .header("origin", origin)
        .bearer_auth(t.admin_secret())
        .json(&json!({ "query": "{ viewer { name } }" }))
        .send()
        .await
        .expect("POST /graphql")
}

async fn cors_allows_listed_origins_only(t: TestServer) {
    let response = preflight(&t, ALLOWED).await;
    assert!(
        response.status().is_success(),
        "preflight: {}",
        response.status()
    );
    assert_eq!(allow_origin(response.headers()).as_deref(), Some(ALLOWED));
    let allowed_headers = response
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        allowed_headers.contains("authorization") && allowed_headers.contains("content-type"),
        "the preflight allows the bearer and JSON headers: {allowed_headers:?}"
    );
    let response = post_from(&t, ALLOWED).await;
    assert_eq!(response.status(), 200);
    assert_eq!(allow_origin(response.headers()).as_deref(), Some(ALLOWED));
    let response = post_from(&t, "https://bi.example.org").await;
    assert_eq!(
        allow_origin(response.headers()).as_deref(),
        Some("https://bi.example.org")
    );

    for origin in [
        "https://evil.example.com",
        "https://charts.example.com.evil.test",
        "http://charts.example.com",
    ] {
        let response = preflight(&t, origin).await;
        assert_eq!(
            allow_origin(response.headers()),
            None,
            "preflight from {origin}"
        );
        let response = post_from(&t, origin).await;
        assert_eq!(allow_origin(response.headers()), None, "POST from {origin}");
    }
}

async fn no_cors_by_default(t: TestServer) {
    let response = preflight(&t, ALLOWED).await;
    assert_eq!(allow_origin(response.headers()), None);
    let response = post_from(&t, ALLOWED).await;
    assert_eq!(allow_origin(response.headers()), None);
}

/// A query of about `size` bytes (padded with a comment).
fn query_of_size(size: usize) -> Value {
    let base = "{ viewer { name } }\n#";
    json!({ "query": format!("{base}{}", "x".repeat(size.saturating_sub(base.len() + 20))) })
}

async fn oversized_bodies_are_rejected(t: TestServer) {
    let small = t
        .post(Some(t.admin_secret()), &query_of_size(BODY_LIMIT / 2))
        .await;
    assert_eq!(
        small.status, 200,
        "a body under the limit is served: {small:?}"
    );
    assert_eq!(small.body["data"]["viewer"]["name"], "admin");

    let big = t
        .post(Some(t.admin_secret()), &query_of_size(BODY_LIMIT * 4))
        .await;
    assert_eq!(
        big.status, 413,
        "a body over the limit is 413 Payload Too Large, got {} {:?}",
        big.status, big.body
    );

    // Also without a Content-Length (chunked): the limit is on the bytes read.
    let status = post_chunked(&t, &query_of_size(BODY_LIMIT * 4)).await;
    assert!(
        status.is_none_or(|s| s == 413),
        "a chunked body over the limit is refused (413, or the connection cut), got {status:?}"
    );
}

/// POSTs `body` with Transfer-Encoding: chunked over a raw connection;
/// returns the response status, or None when the server cut the connection.
async fn post_chunked(t: &TestServer, body: &Value) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let payload = serde_json::to_vec(body).unwrap();
    let addr = t.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        t.admin_secret()
    );
    let mut sent = stream.write_all(head.as_bytes()).await.is_ok();
    for chunk in payload.chunks(1024) {
        if !sent {
            break;
        }
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        sent = stream.write_all(&framed).await.is_ok();
    }
    if sent {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
}

async fn too_deep_queries_are_rejected(t: TestServer) {
    // A realistic nested query passes.
    let ok = t
        .admin(
            "{ users(first: 5) { edges { node { realm { name } datasets { role }
                changelog(first: 5) { edges { node { previousDatasets { role } } } } } } } }",
            json!({}),
        )
        .await;
    data(&ok);

    // __Type.ofType nests as deep as one likes: 30 levels is beyond any limit.
    let mut selection = "name".to_owned();
    for _ in 0..30 {
        selection = format!("ofType {{ {selection} }}");
    }
    let response = t
        .admin(
            &format!("{{ __type(name: \"User\") {{ {selection} }} }}"),
            json!({}),
        )
        .await;
    let errs = errors(&response);
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "a too-deep query is not executed: {response}"
    );
    let message = errs[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("deep") || message.contains("depth"),
        "{message}"
    );
}

async fn too_complex_queries_are_rejected(t: TestServer) {
    t.create_realm("acme").await;
    t.create_user("acme", "ann@acme.test", &[]).await;
    let ok = t
        .admin(
            "{ users(first: 50) { totalCount edges { node { id email roles
                changelog(first: 10) { edges { node { id } } } } } } }",
            json!({}),
        )
        .await;
    data(&ok);

    let before = t.counts().await;
    let started = Instant::now();
    let response = t
        .admin(
            "{ users(first: 1000) { edges { node { changelog(first: 1000) { edges { node { id } } } } } } }",
            json!({}),
        )
        .await;
    let errs = errors(&response);
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "a too-complex query is not executed: {response}"
    );
    let message = errs[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(message.contains("complex"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(before, t.counts().await);

    // Many aliases of a cheap field add up as well.
    let aliases: Vec<String> = (0..200)
        .map(|i| format!("u{i}: users(first: 1000) {{ edges {{ node {{ id email }} }} }}"))
        .collect();
    let response = t
        .admin(&format!("{{ {} }}", aliases.join(" ")), json!({}))
        .await;
    errors(&response);
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "{response}"
    );
}

/// Documents that passed validation once skip the strict rules afterwards
/// (src/graphql/documents.rs): the answers must not change for it.
async fn repeated_documents_are_validated_every_time_it_matters(t: TestServer) {
    t.create_realm("acme").await;
    t.create_user("acme", "ann@acme.test", &[]).await;

    // The same valid document answers the same, first time and after.
    let page = "{ users(first: 5) { totalCount edges { node { email roles } } } }";
    let first = t.admin_ok(page, json!({})).await;
    for _ in 0..3 {
        assert_eq!(t.admin_ok(page, json!({})).await, first);
    }
    t.create_user("acme", "bob@acme.test", &[]).await;
    let after_write = t.admin_ok(page, json!({})).await;
    assert_eq!(after_write["users"]["totalCount"], 2, "{after_write}");

    // An invalid document is refused every time, without data.
    let unknown_field = "{ users(first: 5) { edges { node { shoeSize } } } }";
    for _ in 0..3 {
        let response = t.admin(unknown_field, json!({})).await;
        let message = errors(&response)[0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("shoeSize"), "{response}");
        assert!(
            response.get("data").is_none_or(Value::is_null),
            "{response}"
        );
    }

    // Variables' values are validated on every request, also after the same
    // document passed with good values.
    let sized = "query($n: Int!) { users(first: $n) { totalCount } }";
    for _ in 0..2 {
        let ok = t.admin_ok(sized, json!({ "n": 1 })).await;
        assert_eq!(ok["users"]["totalCount"], 2, "{ok}");
    }
    let response = t.admin(sized, json!({ "n": "many" })).await;
    assert_eq!(code(&response), "BAD_USER_INPUT", "{response}");
    assert_eq!(
        errors(&response)[0]["extensions"]["field"],
        "first",
        "{response}"
    );
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "{response}"
    );
    let response = t.admin(sized, json!({})).await;
    errors(&response);
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "{response}"
    );

    // A document known to be valid still gets its complexity checked: the
    // limit does not depend on the path taken.
    let big = "{ users(first: 1000) { edges { node { changelog(first: 1000) { edges { node { id } } } } } } }";
    for _ in 0..2 {
        let response = t.admin(big, json!({})).await;
        let message = errors(&response)[0]["message"].as_str().unwrap_or_default();
        assert!(message.to_lowercase().contains("complex"), "{response}");
    }
}

/// PostgreSQL only: the server's database refuses connections for a while.
/// /readyz answers 503 meanwhile and 200 again once it is back, without a
/// restart. (SQLite is a local file; MySQL has no per-database switch.)
async fn readiness_follows_the_database(t: TestServer) {
    assert_eq!(t.get("/readyz").await.status, 200);
    if t.backend() != Backend::Postgres {
        eprintln!("readiness outage is exercised on PostgreSQL only");
        return;
    }
    let admin_url = std::env::var("HEADCOUNT_TEST_PG_URL").unwrap();
    let name = reqwest::Url::parse(t.db_url())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let admin = sea_orm::Database::connect(&admin_url)
        .await
        .expect("PostgreSQL admin connection");
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    while Instant::now() < deadline {
        status = t.get("/readyz").await.status.as_u16();
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outage = status;

    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let _ = admin.close().await;
    assert_eq!(
        outage, 503,
        "/readyz answers 503 while the database is unreachable"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        status = t.get("/readyz").await.status.as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "/readyz recovers without a restart");
    // And so does GraphQL.
    let data = t.admin_ok("{ viewer { name } }", json!({})).await;
    assert_eq!(data["viewer"]["name"], "admin");
}
