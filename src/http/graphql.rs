//! `/graphql` as GraphQL over HTTP asks (graphql.github.io/graphql-over-http):
//! POST runs any operation; GET runs queries (never mutations) when the
//! client asks for JSON, and serves GraphiQL to a browser asking for a page.
//! The response's Content-Type follows Accept; with
//! `application/graphql-response+json`, a request that fails before execution
//! (parse, validation, variables) is HTTP 400, and such a response has no
//! `data` entry in either type.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{Authenticated, Rejection};
use super::error::Failure;
use super::media::{self, GraphqlMedia};
use super::rate_limit::Standing;
use super::request_log::{Caller, ErrorCode, Operation};
use crate::graphql;
use crate::service::Error;

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Authenticated, Rejection>,
    body: Bytes,
) -> Response {
    let Some(media) = media::graphql(&headers) else {
        return not_acceptable();
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(rejected) => return failed(media, rejected.failure, rejected.standing),
    };
    let who = Caller::of(&caller.principal);
    let mut response = post_as(&state, &headers, media, caller, &body).await;
    response.extensions_mut().insert(who);
    response
}

async fn post_as(
    state: &AppState,
    headers: &HeaderMap,
    media: GraphqlMedia,
    caller: Authenticated,
    body: &[u8],
) -> Response {
    if !media::is_json_body(headers) {
        let failure = transport(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
            "send the request as Content-Type: application/json (UTF-8)",
        );
        return failed(media, failure, caller.standing);
    }
    match serde_json::from_slice::<async_graphql::Request>(body) {
        Ok(request) if request.query.trim().is_empty() => {
            let failure = Error::bad_input("query", "the request has no query document");
            failed(media, failure.into(), caller.standing)
        }
        Ok(request) => execute(state, caller, request, media, false).await,
        Err(err) => {
            let failure = Error::bad_input(
                "body",
                format!("the body is not a GraphQL request in JSON: {err}"),
            );
            failed(media, failure.into(), caller.standing)
        }
    }
}

/// The query string of a GET: the same members as a POST body, with
/// `variables` and `extensions` as JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if media::wants_html(&parts.headers) {
        return super::graphiql::page().await;
    }
    let Some(media) = media::graphql(&parts.headers) else {
        return not_acceptable();
    };
    let caller = match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(rejected) => return failed(media, rejected.failure, rejected.standing),
    };
    let who = Caller::of(&caller.principal);
    let mut response = match Query::<GetParams>::try_from_uri(&parts.uri) {
        Ok(Query(params)) => match from_params(params) {
            Ok(request) => execute(&state, caller, request, media, true).await,
            Err(err) => failed(media, err.into(), caller.standing),
        },
        Err(err) => {
            let failure = Error::bad_input("query", format!("a malformed query string: {err}"));
            failed(media, failure.into(), caller.standing)
        }
    };
    response.extensions_mut().insert(who);
    response
}

fn from_params(params: GetParams) -> Result<async_graphql::Request, Error> {
    let query = params.query.ok_or_else(|| {
        Error::bad_input(
            "query",
            "give the document as ?query=...; open this URL in a browser for GraphiQL",
        )
    })?;
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(text) = params.variables {
        let variables: async_graphql::Variables = serde_json::from_str(&text).map_err(|err| {
            Error::bad_input(
                "variables",
                format!("variables are not a JSON object: {err}"),
            )
        })?;
        request = request.variables(variables);
    }
    if let Some(text) = params.extensions {
        let extensions: async_graphql::Extensions = serde_json::from_str(&text).map_err(|err| {
            Error::bad_input(
                "extensions",
                format!("extensions are not a JSON object: {err}"),
            )
        })?;
        request.extensions = extensions;
    }
    Ok(request)
}

async fn execute(
    state: &AppState,
    caller: Authenticated,
    mut request: async_graphql::Request,
    media: GraphqlMedia,
    via_get: bool,
) -> Response {
    let attached = state.documents.attach(&mut request);
    if via_get && is_mutation(&mut request) {
        let failure = transport(
            StatusCode::METHOD_NOT_ALLOWED,
            "query",
            "mutations are sent with POST",
        );
        let mut response = failed(media, failure, caller.standing);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let schema = if attached.proven {
        &state.prevalidated
    } else {
        &state.schema
    };
    let operation = Operation(operation_name(&mut request));
    let request = graphql::prepare(request, &state.services, caller.principal);
    let response = schema.execute(request).await;
    state.documents.record(attached, &response);
    let response = graphql::finish(response);
    let code = first_code(&response);
    let mut rendered = render(media, response, caller.standing);
    rendered.extensions_mut().insert(operation);
    if let Some(code) = code {
        rendered.extensions_mut().insert(code);
    }
    rendered
}

/// The operation's name: the one asked for, else the document's only named
/// operation, else `anonymous`.
fn operation_name(request: &mut async_graphql::Request) -> String {
    if let Some(name) = &request.operation_name {
        return name.clone();
    }
    let named = match request.parsed_query() {
        Ok(document) => match &document.operations {
            DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                ops.keys().next().map(|name| name.to_string())
            }
            _ => None,
        },
        Err(_) => None,
    };
    named.unwrap_or_else(|| "anonymous".to_owned())
}

/// The first error's code (every error has one after `finish`).
fn first_code(response: &async_graphql::Response) -> Option<ErrorCode> {
    let error = response.errors.first()?;
    let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => code.clone(),
        _ => "INTERNAL_SERVER_ERROR".to_owned(),
    };
    Some(ErrorCode(code))
}

/// True when the operation the request selects is a mutation. A document
/// that does not parse, or names no operation it has, is left for execution
/// to report.
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let kind = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    kind == Some(OperationType::Mutation)
}

fn render(
    media: GraphqlMedia,
    response: async_graphql::Response,
    standing: Option<Standing>,
) -> Response {
    let request_error = graphql::is_request_error(&response);
    let status = if request_error && media == GraphqlMedia::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if request_error {
        serde_json::to_vec(&Errors {
            errors: &response.errors,
        })
    } else {
        serde_json::to_vec(&response)
    };
    match body {
        Ok(body) => (
            status,
            standing,
            [(header::CONTENT_TYPE, media.content_type())],
            body,
        )
            .into_response(),
        Err(err) => {
            let failure = Error::Internal(err.into()).into();
            failed(media, failure, standing)
        }
    }
}

/// A response with errors only: a request error has no `data` entry.
#[derive(Serialize)]
struct Errors<'a> {
    errors: &'a [async_graphql::ServerError],
}

/// A request turned away before execution, GraphQL-shaped, in `media`.
fn failed(media: GraphqlMedia, failure: Failure, standing: Option<Standing>) -> Response {
    let error = graphql::coded(failure.clone());
    let mut server_error = error.into_server_error(async_graphql::Pos::default());
    server_error.locations.clear();
    let body = Errors {
        errors: &[server_error],
    };
    let mut response = (
        failure.status,
        standing,
        [(header::CONTENT_TYPE, media.content_type())],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    failure.apply_headers(&mut response);
    response
        .extensions_mut()
        .insert(ErrorCode(failure.code.to_owned()));
    response
}

fn not_acceptable() -> Response {
    let failure = transport(
        StatusCode::NOT_ACCEPTABLE,
        "Accept",
        "this endpoint answers application/graphql-response+json or application/json",
    );
    super::error::Problem(failure).into_response()
}

/// BAD_USER_INPUT about the HTTP request itself, with the status HTTP has
/// for it (405, 406, 415) rather than 400.
fn transport(status: StatusCode, field: &str, message: &str) -> Failure {
    Failure {
        status,
        ..Error::bad_input(field, message).into()
    }
}
