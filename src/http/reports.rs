//! `GET /reports/{id}/download`: a finished report's file, for a bearer
//! token that may see the job, or for anyone holding the job's signed URL
//! (`?expires=...&signature=...`, what BI tools and spreadsheets fetch).
//! Gzip when the client accepts it (the router's compression layer).

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::Authenticated;
use super::error::Problem;
use crate::service::reports::{JobStatus, ReportJob, Signature};
use crate::service::{Error, Principal};

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

/// The job id of the path: a number, or the job's global id.
fn job_id(raw: &str) -> Option<i64> {
    raw.parse()
        .ok()
        .or_else(|| crate::graphql::report_job_id(raw))
}

pub async fn download(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    Query(signed): Query<Signed>,
    request: Request,
) -> Response {
    let missing = || Error::not_found(format!("no report job with id {raw_id}"));
    if let (Some(expires), Some(value)) = (signed.expires, signed.signature) {
        let reports = &state.services.reports;
        let signature = Signature { expires, value };
        let verified = match job_id(&raw_id) {
            Some(id) => match reports.verify(id, &signature).await {
                Ok(true) => reports.find(id).await,
                Ok(false) => Ok(None),
                Err(err) => Err(err),
            },
            None => Ok(None),
        };
        return match verified {
            Ok(Some(job)) => send(&state, None, job).await,
            // Nothing about the job is told: tampered, expired and unknown
            // links answer alike.
            Ok(None) => Problem::from(Error::forbidden(
                "this download link is not valid, or has expired",
            ))
            .into_response(),
            Err(err) => Problem::from(err).into_response(),
        };
    }
    let (mut parts, _) = request.into_parts();
    let auth = match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(auth) => auth,
        Err(rejection) => return rejection.into_response(),
    };
    let found = match job_id(&raw_id) {
        Some(id) => state.services.reports.get(&auth.principal, id).await,
        None => state
            .services
            .reports
            .check_view(&auth.principal)
            .map(|()| None),
    };
    let response = match found {
        Ok(Some(job)) => send(&state, Some(&auth.principal), job).await,
        Ok(None) => Problem::from(missing()).into_response(),
        Err(err) => Problem::from(err).into_response(),
    };
    (auth.standing, response).into_response()
}

/// The file, or why not: not finished (CONFLICT), expired (GONE).
async fn send(state: &AppState, actor: Option<&Principal>, job: ReportJob) -> Response {
    let reports = &state.services.reports;
    let now = state.services.clock.now();
    if job.status != JobStatus::Success {
        return Problem::from(Error::conflict(
            "id",
            format!(
                "report job {} is {}; its file can be downloaded once it is SUCCESS",
                job.id,
                job.status.as_str()
            ),
        ))
        .into_response();
    }
    let (true, Some(key)) = (job.ready(now), job.object_key.as_deref()) else {
        return Problem::from(Error::Gone(format!(
            "the file of report job {} has expired and was deleted",
            job.id
        )))
        .into_response();
    };
    let (size, stream) = match state.report_store.open(key).await {
        Ok(opened) => opened,
        Err(object_store::Error::NotFound { .. }) => {
            return Problem::from(Error::Gone(format!(
                "the file of report job {} is no longer stored",
                job.id
            )))
            .into_response();
        }
        Err(err) => {
            return Problem::from(Error::Internal(anyhow::anyhow!(
                "reading report file {key}: {err}"
            )))
            .into_response();
        }
    };
    if let Err(err) = reports.downloaded(actor, &job).await {
        return Problem::from(err).into_response();
    }
    let disposition = format!("attachment; filename=\"{}\"", job.file_name());
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(job.format.content_type()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}
