//! The HTTP surface: GraphQL (POST) and GraphiQL (GET) on /graphql, health
//! and readiness probes, with auth, limits, CORS and request logs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tracing::Level;

use crate::config::Limits;
use crate::graphiql;
use crate::graphql::{self, AppSchema};
use crate::service::{Error, Services};

/// What the router needs beyond the services.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Browser origins allowed by CORS; empty allows none.
    pub cors_origins: Vec<String>,
    pub limits: Limits,
}

#[derive(Clone)]
struct AppState {
    services: Services,
    schema: AppSchema,
    /// `schema` without the strict validation rules, for documents that are
    /// known to pass them.
    prevalidated: AppSchema,
    documents: Arc<graphql::Documents>,
}

/// The whole HTTP application.
pub fn router(services: Services, config: &ServerConfig) -> Router {
    let schema = graphql::build_schema(services.clone(), &config.limits);
    let prevalidated = graphql::build_prevalidated_schema(services.clone(), &config.limits);
    let state = AppState {
        services,
        schema,
        prevalidated,
        documents: Arc::new(graphql::Documents::new(512)),
    };
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_post))
        .merge(graphiql::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        // The body is read as `Bytes`, which enforces DefaultBodyLimit with
        // 413 whether or not a Content-Length was sent.
        .layer(DefaultBodyLimit::max(config.limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(config.limits.request_timeout_secs),
        ))
        .layer(cors(&config.cors_origins))
        .layer(middleware::from_fn(access_log))
}

/// The access log: one INFO line per request (target `headcount::access`)
/// with method, path, status and latency: one event, with no span around the
/// request (what the log costs is mostly writing the line; docs/BENCHMARKS.md,
/// sessions 4 and 5).
async fn access_log(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "headcount::access", Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        target: "headcount::access",
        %method,
        %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers within two seconds.
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.services.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = Some(peer.ip().to_string());
    let principal = match bearer(&headers) {
        None => Err(Error::Unauthenticated(
            "send an API token: Authorization: Bearer <secret>".to_owned(),
        )),
        Some(secret) => {
            state
                .services
                .api_tokens
                .authenticate(secret, ip.clone())
                .await
        }
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(Error::Unauthenticated(message)) => {
            if let Err(err) = state.services.audit.auth_failed(&message, ip).await {
                tracing::warn!(error = %err, "could not record a failed authentication");
            }
            return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &message);
        }
        Err(err) => {
            tracing::error!(error = ?err, "authentication failed on the server side");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "the service cannot check API tokens right now",
            );
        }
    };
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("the body is not a GraphQL request in JSON: {err}"),
            );
        }
    };
    let known_valid = state.documents.attach(&mut request);
    let (schema, unproven) = if known_valid {
        (&state.prevalidated, None)
    } else {
        let unproven = (request.query.clone(), request.operation_name.clone());
        (&state.schema, Some(unproven))
    };
    let request = graphql::prepare(request, &state.services, principal);
    let response = schema.execute(request).await;
    if let Some((query, operation)) = unproven
        && response.is_ok()
    {
        state.documents.passed(&query, operation.as_deref());
    }
    GraphQLResponse::from(graphql::finish(response)).into_response()
}
