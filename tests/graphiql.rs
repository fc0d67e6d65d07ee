//! GraphiQL works with no network but the server: the page and its vendored
//! assets come from the binary, and a query run from the page in headless
//! Chromium (driven by tests/browser/graphiql.mjs) returns data.
//!
//! No database behaviour is involved, so SQLite only. Needs /usr/bin/chromium,
//! node and `npm ci` in tests/browser (.ci/run installs them); without them
//! the browser test fails, it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use headcount::http::ServerConfig;
use reqwest::Url;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const QUERY: &str = "{\n  viewer {\n    name\n    scopes\n  }\n}\n";

fn sqlite<F, Fut>(body: F) -> impl Future<Output = ()>
where
    F: FnOnce(TestServer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run(Backend::Sqlite, ServerConfig::default(), body)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_with_no_network_but_the_server() {
    sqlite(runs_a_query_in_chromium).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_assets_are_embedded_and_cached_by_version() {
    sqlite(assets_are_served).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_assets_are_not_found() {
    sqlite(unknown_asset).await
}

async fn runs_a_query_in_chromium(t: TestServer) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it (`apt-get install -y chromium`; .ci/run does) \
         to run the GraphiQL browser test"
    );
    let browser_dir = manifest_dir().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in tests/browser (.ci/run does)"
    );
    // Set HEADCOUNT_SCREENSHOT=docs/graphiql.png to refresh the README picture.
    let screenshot = std::env::var_os("HEADCOUNT_SCREENSHOT").map(|p| manifest_dir().join(p));

    let mut command = Command::new("node");
    command
        .arg(browser_dir.join("graphiql.mjs"))
        .current_dir(&browser_dir)
        .env("HEADCOUNT_URL", t.url())
        .env("HEADCOUNT_TOKEN", t.admin_secret())
        .env("HEADCOUNT_QUERY", QUERY)
        .env("CHROMIUM", CHROMIUM);
    if let Some(path) = &screenshot {
        command.env("HEADCOUNT_SCREENSHOT", path);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join the browser driver")
        .expect("run node (is it installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let seen: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "the browser driver printed no report ({}):\n{stdout}\n{stderr}",
                output.status
            )
        });
    let report = serde_json::to_string_pretty(&seen).unwrap_or_default();

    // Nothing but the server was asked for anything.
    assert_eq!(
        seen["blocked"],
        json!([]),
        "requests off the server: {report}"
    );
    let requests = seen["requests"].as_array().expect("requests");
    for request in requests {
        let request = request.as_str().unwrap_or_default();
        let url = request
            .split_once(' ')
            .map(|(_, url)| url)
            .unwrap_or(request);
        assert!(
            url.starts_with(t.url()),
            "a request off the server: {request}"
        );
    }
    // The placeholder token's schema request is refused (401, logged by the
    // browser); anything else logged as an error (a script error, a blocked
    // resource, a CSP violation) fails the test.
    let errors: Vec<&str> = seen["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .filter(|e| !e.contains("the server responded with a status of 401"))
        .collect();
    assert!(
        errors.is_empty(),
        "errors in the page: {errors:?}\n{report}"
    );

    assert_eq!(seen["status"], 200, "{report}");
    assert!(
        seen["contentType"]
            .as_str()
            .is_some_and(|c| c.starts_with("text/html")),
        "{report}"
    );
    let initial_headers: Value =
        serde_json::from_str(seen["initialHeaders"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the headers editor is not JSON ({e}): {report}"));
    assert_eq!(
        initial_headers,
        json!({ "Authorization": "Bearer <paste your token>" }),
        "the headers editor is pre-filled for the token"
    );
    // The schema came through the page with the token typed into it.
    let docs = seen["docs"].as_str().unwrap_or_default();
    assert!(
        docs.contains("query: Query") && docs.contains("UserSnapshot"),
        "the documentation explorer shows the schema: {report}"
    );

    // The result pane holds what the server answers that token directly.
    let shown: Value = serde_json::from_str(seen["result"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the result pane is not JSON ({e}): {report}"));
    let direct = t
        .post(Some(t.admin_secret()), &json!({ "query": QUERY }))
        .await;
    assert_eq!(shown, direct.body, "{report}");
    assert_eq!(shown["data"]["viewer"]["name"], "admin", "{report}");

    if let Some(path) = screenshot {
        assert!(path.exists(), "no screenshot at {}", path.display());
    }
}

/// The `src` and `href` attribute values of an HTML page.
fn references(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            found.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    found
}

async fn assets_are_served(t: TestServer) {
    let page_url = Url::parse(&t.endpoint()).expect("endpoint URL");
    let response = t
        .client()
        .get(page_url.clone())
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert!(
        !csp.contains("http"),
        "the CSP names no other origin: {csp}"
    );
    let html = response.text().await.expect("page body");
    assert!(
        !html.contains("http:") && !html.contains("https:") && !html.contains("//"),
        "the page names no origin, not even its own: {html}"
    );

    let references = references(&html);
    assert_eq!(
        references.len(),
        4,
        "React, ReactDOM, GraphiQL and its CSS: {references:?}"
    );
    for reference in references {
        let url = page_url.join(reference).expect("a relative URL");
        assert!(url.path().starts_with("/graphql/assets/"), "{url}");
        let name = url.path().rsplit('/').next().unwrap_or_default().to_owned();
        assert!(
            name.chars().any(|c| c.is_ascii_digit()),
            "the name carries the version: {name}"
        );
        let response = t.client().get(url.clone()).send().await.expect("GET asset");
        assert_eq!(response.status(), 200, "{url}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let expected_type = if name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(header("content-type"), expected_type, "{url}");
        assert_eq!(
            header("cache-control"),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{url}");
        let body = response.bytes().await.expect("asset body");
        let vendored = std::fs::read(manifest_dir().join("assets/graphiql").join(&name))
            .unwrap_or_else(|e| panic!("assets/graphiql/{name}: {e}"));
        assert!(body == vendored, "{name} is served as vendored");
    }
}

async fn unknown_asset(t: TestServer) {
    for path in [
        "/graphql/assets/graphiql.min.js",
        "/graphql/assets/..%2FCargo.toml",
        "/graphql/assets/README.md",
    ] {
        let reply = t.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
    }
}
