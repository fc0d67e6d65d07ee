//! One INFO event per request (target `headcount::access`).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Level;

/// The access log: one INFO line per request (target `headcount::access`)
/// with method, path, status and latency: one event, with no span around the
/// request (what the log costs is mostly writing the line; docs/BENCHMARKS.md,
/// sessions 4 and 5).
pub async fn access_log(request: Request, next: Next) -> Response {
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
