//! Domain errors as GraphQL errors: `extensions.code` (and `extensions.field`
//! for input errors) from the one mapping in `crate::http::error`.

use async_graphql::{ErrorExtensions, Response};

use crate::http::error::{Failure, whole_seconds};
use crate::service::Error;

/// A resolver's error. Deliberately not `Display`: async-graphql converts any
/// `Display` type into an error without a code, so a resolver that forgot the
/// mapping would still compile. With this type, `?` always goes through
/// [`From<Error>`] below.
#[derive(Clone)]
pub struct ApiError(async_graphql::Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Error::bad_input(field, message).into()
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(coded(Failure::from(err)))
    }
}

/// A GraphQL error carrying the failure's code (and field, and retry time).
pub fn coded(failure: Failure) -> async_graphql::Error {
    let Failure {
        code,
        message,
        field,
        retry_after,
        ..
    } = failure;
    async_graphql::Error::new(message).extend_with(|_, e| {
        e.set("code", code);
        if let Some(field) = field {
            e.set("field", field);
        }
        if let Some(wait) = retry_after {
            e.set("retryAfter", whole_seconds(wait));
        }
    })
}

impl From<async_graphql::Error> for ApiError {
    fn from(err: async_graphql::Error) -> Self {
        ApiError(err)
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        err.0
    }
}

/// Gives every error a code. Errors raised by async-graphql itself (parse,
/// validation, limits, argument coercion) carry none: they are the client's
/// input, so BAD_USER_INPUT, with the argument named when the message names one.
pub fn finish(mut response: Response) -> Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let field = argument_in(&error.message);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", "BAD_USER_INPUT");
        if let Some(field) = field {
            extensions.set("field", field);
        }
    }
    response
}

/// `Invalid value for argument "input.email", ...` → `input.email`.
fn argument_in(message: &str) -> Option<String> {
    let rest = message.split_once("argument \"")?.1;
    let name = rest.split_once('"')?.0;
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_names_are_found_in_messages() {
        assert_eq!(
            argument_in(r#"Invalid value for argument "date", expected type "DateTime""#),
            Some("date".to_owned())
        );
        assert_eq!(argument_in("Query is too complex."), None);
    }
}
