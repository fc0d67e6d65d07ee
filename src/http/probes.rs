//! Liveness and readiness probes (no authentication, no rate limit: load
//! balancers call them).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers within two seconds.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.services.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}
