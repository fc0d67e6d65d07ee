//! GraphiQL served from the binary: our own page plus pinned GraphiQL and
//! React builds vendored in `assets/graphiql/` (versions and how to update
//! them in its README), so the page works offline and asks no third-party
//! origin for anything.
//!
//! Every URL in the page is relative to the page itself, so it works on any
//! host, port and path prefix the server is reached on, provided the page's
//! last path segment is `graphql` (assets are `graphql/assets/...`) and POST
//! to the page's own path is the GraphQL endpoint.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The route of the assets, beside the page at `/graphql`.
const ASSETS_ROUTE: &str = "/graphql/assets/{file}";
/// How the page refers to the assets: relative to `.../graphql`.
const ASSETS_HREF: &str = "./graphql/assets/";

struct Asset {
    /// The file name, which carries the version: the URL changes whenever the
    /// content does, so browsers may cache it for good.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const REACT: Asset = Asset {
    name: "react-18.3.1.production.min.js",
    content_type: JS,
    body: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
};
const REACT_DOM: Asset = Asset {
    name: "react-dom-18.3.1.production.min.js",
    content_type: JS,
    body: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
};
const GRAPHIQL_JS: Asset = Asset {
    name: "graphiql-4.1.2.min.js",
    content_type: JS,
    body: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.js"),
};
const GRAPHIQL_CSS: Asset = Asset {
    name: "graphiql-4.1.2.min.css",
    content_type: CSS,
    body: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.css"),
};

const ASSETS: [&Asset; 4] = [&REACT, &REACT_DOM, &GRAPHIQL_JS, &GRAPHIQL_CSS];

/// Starts GraphiQL on the page's own path, with the headers editor open and
/// pre-filled with where the API token goes. Headers are not persisted:
/// a bearer token has no business in localStorage.
const INIT_JS: &str = r#"
(function () {
  var endpoint = window.location.pathname;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: endpoint }),
    defaultQuery: "{\n  viewer {\n    name\n    scopes\n    realms\n  }\n}\n",
    defaultHeaders: JSON.stringify({ Authorization: "Bearer <paste your token>" }, null, 2),
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: false
  }));
})();
"#;

struct Page {
    html: String,
    /// Only our own origin, plus the one inline script by its hash; GraphiQL
    /// sets inline styles and uses `data:` fonts and icons.
    csp: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>headcount · GraphiQL</title>
<link rel="stylesheet" href="{assets}{css}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{assets}{react}"></script>
<script src="{assets}{react_dom}"></script>
<script src="{assets}{graphiql}"></script>
<script>{INIT_JS}</script>
</body>
</html>
"#,
        assets = ASSETS_HREF,
        css = GRAPHIQL_CSS.name,
        react = REACT.name,
        react_dom = REACT_DOM.name,
        graphiql = GRAPHIQL_JS.name,
    );
    let script_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(INIT_JS));
    let csp = format!(
        "default-src 'none'; script-src 'self' 'sha256-{script_hash}'; \
         style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    Page { html, csp }
});

/// The routes of the assets; the page itself is [`page`], for whoever
/// dispatches `GET /graphql`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(ASSETS_ROUTE, get(asset))
}

/// The GraphiQL page.
pub async fn page() -> Response {
    let page: &'static Page = &PAGE;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, page.csp.as_str()),
            // Small, and the asset names in it change with each update.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page.html.as_str(),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}
