//! The `Authenticated` extractor: every route that needs a caller takes one.
//! It reads `Authorization: Bearer <secret>`, authenticates it, and spends
//! one request of the caller's rate limit (the token's, or the client
//! address's when there is no valid token). Its rejection is the domain
//! error, answered as problem+json by default; the GraphQL route renders it
//! GraphQL-shaped instead.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::client_ip::client_ip;
use super::error::{Failure, Problem};
use super::rate_limit::{Key, Standing};
use crate::service::{Error, Principal};

/// The caller of a request, authenticated and within its rate limit.
pub struct Authenticated {
    pub principal: Principal,
    /// For the `RateLimit` headers of the response.
    pub standing: Option<Standing>,
}

/// Why a request was not let in, and its rate-limit standing.
pub struct Rejection {
    pub failure: Failure,
    pub standing: Option<Standing>,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.standing, Problem(self.failure)).into_response()
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = client_ip(&parts.extensions);
        authenticate(state, &parts.headers, address).await
    }
}

pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<Authenticated, Rejection> {
    let ip = address.map(|ip| ip.to_string());
    let outcome = match bearer(headers) {
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
    let principal = match outcome {
        Ok(principal) => principal,
        Err(Error::Unauthenticated(reason)) => {
            state.services.sign_in_failures.record(&reason, ip);
            let standing = match address {
                Some(ip) => state
                    .rate_limits
                    .check(Key::Address(ip))
                    .map_err(|(limited, standing)| rejection(limited, standing))?,
                None => None,
            };
            return Err(rejection(Error::Unauthenticated(reason), standing));
        }
        Err(err) => return Err(rejection(err, None)),
    };
    // The system principal (no token id) is never rate limited.
    let standing = match principal.token_id {
        Some(id) => state
            .rate_limits
            .check(Key::Token(id))
            .map_err(|(limited, standing)| rejection(limited, standing))?,
        None => None,
    };
    Ok(Authenticated {
        principal,
        standing,
    })
}

fn rejection(err: Error, standing: Option<Standing>) -> Rejection {
    Rejection {
        failure: err.into(),
        standing,
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
