//! The one HTTP edge: the router, authentication (the [`Authenticated`]
//! extractor every route uses), rate limits, the mapping of domain errors to
//! statuses and problem+json, GraphQL over HTTP and WebSocket (subscriptions),
//! probes and the access log.

mod access_log;
mod auth;
mod client_ip;
pub mod error;
mod graphiql;
mod graphql;
mod media;
mod metrics;
mod probes;
pub mod rate_limit;
mod reports;
mod request_log;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use auth::{Authenticated, Rejection};
pub use metrics::open_router as metrics_router;

use crate::config::Limits;
use crate::events;
use crate::graphql::{AppSchema, Documents, build_prevalidated_schema, build_schema};
use crate::jobs::{self, ReportStore, Workers};
use crate::service::Services;
use crate::service::requests::RequestLogConfig;
use client_ip::TrustedProxies;
use rate_limit::RateLimits;

/// What the router needs beyond the services.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Browser origins allowed by CORS; empty allows none.
    pub cors_origins: Vec<String>,
    pub limits: Limits,
    pub request_log: RequestLogConfig,
    /// Report workers this server runs (0: it serves downloads only).
    pub report_workers: usize,
    /// Where report files are stored (None: in memory).
    pub report_store: Option<ReportStore>,
    /// How many rows the report workers read at a time.
    pub report_reading: jobs::Reading,
    /// Proxies whose `X-Forwarded-For` names the client (none by default:
    /// the socket's peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            limits: Limits::default(),
            request_log: RequestLogConfig::default(),
            report_workers: 2,
            report_store: None,
            report_reading: jobs::Reading::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Memory for parsed query documents (see [`Documents`]).
const DOCUMENT_CACHE_BYTES: usize = 16 << 20;

/// How often counted failed sign-ins are written, and idle rate-limit keys
/// forgotten.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often request-log records past their retention are deleted.
const PRUNE_REQUESTS_EVERY: Duration = Duration::from_secs(600);

/// How often the Prometheus recorder folds the latencies recorded since into
/// its histograms. Until then each one is kept as a sample (its value and
/// time): on a server nobody scraped, they grew by 16 bytes per request for
/// good.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What every handler reaches.
#[derive(Clone)]
pub struct AppState {
    services: Services,
    schema: AppSchema,
    /// `schema` without the strict validation rules, for documents that are
    /// known to pass them.
    prevalidated: AppSchema,
    documents: Arc<Documents>,
    rate_limits: Arc<RateLimits>,
    report_store: ReportStore,
    /// WebSocket connections that may still open.
    sockets: Arc<Semaphore>,
    /// Turns true when the server shuts down (open sockets then close).
    closing: watch::Receiver<bool>,
}

/// The HTTP application and its background work.
pub struct App {
    router: Router,
    services: Services,
    housekeeping: JoinHandle<()>,
    workers: Workers,
    /// Receives other replicas' changes (PostgreSQL, MariaDB).
    replicas: Option<JoinHandle<()>>,
    closing: watch::Sender<bool>,
    /// The WebSocket permits, all free again once every socket has closed.
    sockets: Arc<Semaphore>,
    socket_limit: usize,
}

/// How long shutdown waits for open WebSockets to send their close frames.
const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// The whole HTTP application. Starts its background work (the request
/// log's writer, writing counted failed sign-ins, pruning rate-limit keys
/// and old request-log records) on the current runtime.
pub fn app(services: Services, config: &ServerConfig) -> App {
    metrics::install();
    services.request_log.start(config.request_log);
    let rate_limits = Arc::new(RateLimits::new(config.limits.rate_limit_per_minute));
    let report_store = config
        .report_store
        .clone()
        .unwrap_or_else(ReportStore::memory);
    let workers = jobs::start_with(
        services.clone(),
        report_store.clone(),
        config.report_workers,
        config.report_reading,
        jobs::Outputs::default(),
    );
    let (closing, closing_rx) = watch::channel(false);
    let sockets = Arc::new(Semaphore::new(config.limits.ws_max_connections));
    let state = AppState {
        schema: build_schema(services.clone(), &config.limits),
        prevalidated: build_prevalidated_schema(services.clone(), &config.limits),
        documents: Arc::new(Documents::new(DOCUMENT_CACHE_BYTES)),
        rate_limits: rate_limits.clone(),
        report_store,
        services: services.clone(),
        sockets: sockets.clone(),
        closing: closing_rx,
    };
    let routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .merge(graphiql::router())
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::protected))
        .route(
            "/reports/{id}/download",
            get(reports::download).layer(CompressionLayer::new()),
        )
        .with_state(state)
        // The body is read as `Bytes`, which enforces DefaultBodyLimit with
        // 413 whether or not a Content-Length was sent.
        .layer(DefaultBodyLimit::max(config.limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(config.limits.request_timeout_secs),
        ))
        .layer(cors(&config.cors_origins));
    // Off (`--request-log false`), requests skip the log's layer entirely.
    let routes = if config.request_log.enabled {
        routes.layer(middleware::from_fn_with_state(
            services.request_log.clone(),
            request_log::record,
        ))
    } else {
        routes
    };
    // Outside every layer that asks for the client's address.
    let trusted = TrustedProxies::new(config.trusted_proxies.clone());
    let routes = if trusted.is_empty() {
        routes
    } else {
        routes.layer(middleware::from_fn_with_state(trusted, client_ip::resolve))
    };
    let router = routes.layer(middleware::from_fn(access_log::access_log));
    let housekeeping = tokio::spawn(housekeeping(services.clone(), rate_limits));
    let replicas = events::start(&services.db);
    App {
        router,
        services,
        housekeeping,
        workers,
        replicas,
        closing,
        sockets,
        socket_limit: config.limits.ws_max_connections,
    }
}

async fn housekeeping(services: Services, rate_limits: Arc<RateLimits>) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut prune_requests = tokio::time::interval(PRUNE_REQUESTS_EVERY);
    let mut metrics_upkeep = tokio::time::interval(METRICS_UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = metrics_upkeep.tick() => {
                if let Some(recorder) = metrics::install() {
                    recorder.run_upkeep();
                }
            }
            _ = flush.tick() => {
                if let Err(err) = services.sign_in_failures.flush().await {
                    tracing::warn!(error = %err, "could not record failed sign-ins; will retry");
                }
            }
            _ = prune.tick() => rate_limits.prune(),
            _ = prune_requests.tick() => {
                if let Err(err) = services.request_log.prune().await {
                    tracing::warn!(error = %err, "could not prune the request log; will retry");
                }
            }
        }
    }
}

/// Serves until `shutdown` resolves, then closes WebSockets, finishes
/// in-flight requests and writes the failed sign-ins counted so far and the
/// queued request log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let App {
        router,
        services,
        housekeeping,
        workers,
        replicas,
        closing,
        sockets,
        socket_limit,
    } = app;
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Upgraded connections are not the server's to wait for.
        let _ = closing.send(true);
    })
    .await;
    // Each socket sends its 1001 close frame on its own task and then frees
    // its permit: wait for them (a while at most), or the process could exit
    // first and reset the connections instead of closing them.
    let all = u32::try_from(socket_limit).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SOCKETS_CLOSE_WITHIN, sockets.acquire_many(all)).await;
    housekeeping.abort();
    if let Some(replicas) = replicas {
        replicas.abort();
    }
    drop(workers);
    if let Err(err) = services.sign_in_failures.flush().await {
        tracing::warn!(error = %err, "could not record failed sign-ins at shutdown");
    }
    services.request_log.flush().await;
    served
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
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("ratelimit-policy"),
        ])
        .max_age(Duration::from_secs(600))
}
