//! Domain errors as the outside world sees them, in one place: the GraphQL
//! `extensions.code`, the HTTP status, and an RFC 7807
//! (`application/problem+json`) body for routes that are not GraphQL.
//! Internal causes are logged here, never sent.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::Error;

/// What a client is told about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `extensions.code` in GraphQL, `code` in a problem body.
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    /// The argument at fault (BAD_USER_INPUT and CONFLICT).
    pub field: Option<String>,
    /// When to try again (RATE_LIMITED).
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn new(code: &'static str, status: StatusCode, message: String) -> Self {
        Self {
            code,
            status,
            message,
            field: None,
            retry_after: None,
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        match err {
            Error::BadInput { field, message } => Failure {
                field: Some(field),
                ..Failure::new("BAD_USER_INPUT", StatusCode::BAD_REQUEST, message)
            },
            Error::Conflict { field, message } => Failure {
                field: Some(field),
                ..Failure::new("CONFLICT", StatusCode::CONFLICT, message)
            },
            Error::NotFound(message) => Failure::new("NOT_FOUND", StatusCode::NOT_FOUND, message),
            Error::Forbidden(message) => Failure::new("FORBIDDEN", StatusCode::FORBIDDEN, message),
            Error::Gone(message) => Failure::new("GONE", StatusCode::GONE, message),
            Error::Unauthenticated(message) => {
                Failure::new("UNAUTHENTICATED", StatusCode::UNAUTHORIZED, message)
            }
            Error::RateLimited {
                message,
                retry_after,
            } => Failure {
                retry_after: Some(retry_after),
                ..Failure::new("RATE_LIMITED", StatusCode::TOO_MANY_REQUESTS, message)
            },
            Error::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unreachable");
                Failure::new(
                    "SERVICE_UNAVAILABLE",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database cannot be reached; try again shortly".to_owned(),
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Failure::new(
                    "INTERNAL_SERVER_ERROR",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        }
    }
}

impl Failure {
    /// The headers an error's status calls for: `WWW-Authenticate` with 401
    /// (RFC 9110 §11.6.1), `Retry-After` in whole seconds with 429.
    pub fn apply_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(wait)));
        }
    }
}

/// Seconds to wait, rounded up: a client that waits exactly this long succeeds.
pub fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs.max(1)
    }
}

/// An error answered as RFC 7807 problem details, for routes that are not
/// GraphQL (downloads, REST adapters, the GraphQL route's own transport errors
/// are GraphQL-shaped instead).
#[derive(Debug)]
pub struct Problem(pub Failure);

impl<E: Into<Failure>> From<E> for Problem {
    fn from(err: E) -> Self {
        Problem(err.into())
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    /// RFC 7807 §4.2: "about:blank" means the status's title says it all.
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let failure = self.0;
        let body = ProblemBody {
            kind: "about:blank",
            title: failure.status.canonical_reason().unwrap_or("Error"),
            status: failure.status.as_u16(),
            detail: &failure.message,
            code: failure.code,
            field: failure.field.as_deref(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            failure.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            json,
        )
            .into_response();
        failure.apply_headers(&mut response);
        response
            .extensions_mut()
            .insert(super::request_log::ErrorCode(failure.code.to_owned()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_code_and_a_status() {
        let cases = [
            (Error::bad_input("first", "too many"), "BAD_USER_INPUT", 400),
            (Error::conflict("name", "taken"), "CONFLICT", 409),
            (Error::not_found("no such user"), "NOT_FOUND", 404),
            (Error::forbidden("no"), "FORBIDDEN", 403),
            (Error::Unauthenticated("who".into()), "UNAUTHENTICATED", 401),
            (
                Error::RateLimited {
                    message: "slow down".into(),
                    retry_after: Duration::from_millis(1500),
                },
                "RATE_LIMITED",
                429,
            ),
            (
                Error::Internal(anyhow::anyhow!("secret detail")),
                "INTERNAL_SERVER_ERROR",
                500,
            ),
        ];
        for (err, code, status) in cases {
            let failure = Failure::from(err);
            assert_eq!((failure.code, failure.status.as_u16()), (code, status));
            assert!(!failure.message.contains("secret detail"));
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
