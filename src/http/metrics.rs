//! `GET /metrics` in Prometheus' text format, rendered by
//! metrics-exporter-prometheus (no listener of its own): requests by
//! operation and outcome, their latency, the request log's queue and drops,
//! the database pool, and report jobs by status.
//!
//! On the API's own address it needs an ADMIN token. `serve --metrics-listen
//! ADDR` also serves it on ADDR without authentication, for a scraper on a
//! private network.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use super::auth::Authenticated;
use super::error::Problem;
use super::request_log::Caller;
use crate::service::{Scope, Services};

/// Latency buckets, in seconds: a page from memory takes under a
/// millisecond, a large count tens of milliseconds, the timeout is 30 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// The process's one recorder (metrics are global to a process), installed
/// by the first app built.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder, unless another recorder was installed
/// first (then nothing is rendered: an embedding program exports its own).
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("headcount_request_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "another metrics recorder is installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The metrics, with the gauges read at scrape time brought up to date.
async fn render(services: &Services) -> Response {
    let pool = services.db.pool_stats();
    metrics::gauge!("headcount_db_pool_connections", "state" => "idle").set(pool.idle as f64);
    metrics::gauge!("headcount_db_pool_connections", "state" => "in_use")
        .set((pool.size as usize).saturating_sub(pool.idle) as f64);
    metrics::gauge!("headcount_db_pool_max_connections").set(pool.max as f64);
    metrics::gauge!("headcount_request_log_queue_depth").set(services.request_log.depth() as f64);
    // Counted at scrape time: every replica reports the same shared table.
    match services.reports.count_by_status().await {
        Ok(counts) => {
            for (status, n) in counts {
                metrics::gauge!("headcount_report_jobs", "status" => status.as_str()).set(n as f64);
            }
        }
        Err(err) => tracing::warn!(error = ?err, "could not count report jobs for /metrics"),
    }
    let body = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /metrics` on the API's address: ADMIN only.
pub async fn protected(State(state): State<AppState>, caller: Authenticated) -> Response {
    let who = Caller::of(&caller.principal);
    let mut response = match caller.principal.require(Scope::Admin) {
        Ok(_) => (caller.standing, render(&state.services).await).into_response(),
        Err(err) => (caller.standing, Problem::from(err)).into_response(),
    };
    response.extensions_mut().insert(who);
    response
}

/// The router of `--metrics-listen`: `/metrics` without authentication.
pub fn open_router(services: Services) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(services): State<Services>| async move { render(&services).await }),
        )
        .with_state(services)
}
