//! `/graphql/ws`: GraphQL subscriptions over WebSocket, in the
//! graphql-transport-ws protocol (github.com/enisdenjo/graphql-ws,
//! PROTOCOL.md; the older `graphql-ws` subprotocol is spoken too).
//!
//! The caller is authenticated in `connection_init`: its payload carries the
//! token as a header would (`{"Authorization": "Bearer <secret>"}`); without
//! one, the upgrade request's own `Authorization` header counts. A missing or
//! bad token closes the socket with 4403 Forbidden, and nothing may be
//! subscribed before (4401 Unauthorized); no `connection_init` within
//! [`INIT_TIMEOUT`] closes it with 4408. The token is checked again every
//! [`TOKEN_RECHECK`] as a request's would be: once it is revoked or expires
//! (or is deleted), the socket closes with 4403 and the reason, and its
//! subscriptions end. At most `--ws-max-connections`
//! sockets are open at once (more: 503); at shutdown each is closed with 1001
//! Going Away.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use async_graphql::{BatchRequest, BatchResponse, Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::auth::{authenticate, bearer};
use super::client_ip::client_ip;
use super::error::{Failure, Problem};
use crate::graphql::{self, AppSchema};
use crate::service::Error;

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an open socket's token is checked again. Revoking a token drops
/// it from this process's cache at once, so its sockets here close within
/// this; other replicas read it again within the cache's 10 s.
const TOKEN_RECHECK: Duration = Duration::from_secs(1);

pub async fn upgrade(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let Some(protocol) = subprotocol(&parts.headers) else {
        return unusable(
            StatusCode::BAD_REQUEST,
            "open a WebSocket with Sec-WebSocket-Protocol: graphql-transport-ws",
        );
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = state.sockets.clone().try_acquire_owned() else {
        return unusable(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections are open; try again later",
        );
    };
    let address = client_ip(&parts.extensions);
    let headers = parts.headers;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, (headers, address), permit))
}

/// The first GraphQL subprotocol the client offers.
fn subprotocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| name.trim().parse().ok())
}

fn unusable(status: StatusCode, message: &str) -> Response {
    let failure = Failure::from(match status {
        StatusCode::BAD_REQUEST => Error::bad_input("Sec-WebSocket-Protocol", message),
        _ => Error::RateLimited {
            message: message.to_owned(),
            retry_after: Duration::from_secs(5),
        },
    });
    let mut response = Problem(Failure { status, ..failure }).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// The schema, with every error given a code as over HTTP.
#[derive(Clone)]
struct Coded(AppSchema);

impl Executor for Coded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        graphql::finish(self.0.execute(request).await)
    }

    async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match self.0.execute_batch(batch).await {
            BatchResponse::Single(one) => BatchResponse::Single(graphql::finish(one)),
            BatchResponse::Batch(many) => {
                BatchResponse::Batch(many.into_iter().map(graphql::finish).collect())
            }
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        Executor::execute_stream(&self.0, request, session_data)
            .map(graphql::finish)
            .boxed()
    }
}

/// The token `connection_init` carries: an `Authorization` entry (any case)
/// of its payload, or of its `headers` object.
fn token_header(payload: &serde_json::Value) -> Option<HeaderValue> {
    fn find(object: &serde_json::Value) -> Option<&str> {
        object.as_object()?.iter().find_map(|(key, value)| {
            key.eq_ignore_ascii_case("authorization")
                .then(|| value.as_str())
                .flatten()
        })
    }
    let value = find(payload).or_else(|| find(payload.get("headers")?))?;
    HeaderValue::from_str(value).ok()
}

async fn serve_socket(
    socket: WebSocket,
    state: AppState,
    protocol: WebSocketProtocols,
    (mut headers, address): (HeaderMap, Option<IpAddr>),
    _permit: OwnedSemaphorePermit,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| futures::future::ready(message.is_ok()))
        .filter_map(|message| {
            futures::future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let rejected = Arc::new(AtomicBool::new(false));
    // The secret the socket was accepted with (set once accepted), checked
    // again while it is open.
    let secret = Arc::new(OnceLock::<String>::new());
    let on_init = {
        let (state, rejected, secret) = (state.clone(), rejected.clone(), secret.clone());
        move |payload: serde_json::Value| async move {
            if let Some(token) = token_header(&payload) {
                headers.insert(header::AUTHORIZATION, token);
            }
            match authenticate(&state, &headers, address).await {
                Ok(caller) => {
                    // Authenticated: the headers carry a bearer secret.
                    let _ = secret.set(bearer(&headers).unwrap_or_default().to_owned());
                    Ok(graphql::connection_data(&state.services, caller.principal))
                }
                Err(rejection) => {
                    rejected.store(true, Ordering::Relaxed);
                    Err(async_graphql::Error::new(rejection.failure.message))
                }
            }
        }
    };
    let messages =
        async_graphql::http::WebSocket::new(Coded(state.schema.clone()), input, protocol)
            .on_connection_init(on_init);
    futures::pin_mut!(messages);
    let mut closing = state.closing.clone();
    let init_timeout = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_timeout);
    let transport_ws = protocol == WebSocketProtocols::GraphQLWS;
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ip = address.map(|ip| ip.to_string());
    loop {
        let outgoing = tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => {
                    let (code, reason) = match code {
                        1002 if transport_ws && rejected.load(Ordering::Relaxed) => {
                            (4403, "Forbidden".to_owned())
                        }
                        1002 if transport_ws => (4400, reason),
                        1011 if transport_ws => (4401, "Unauthorized".to_owned()),
                        _ => (code, reason),
                    };
                    close(&mut sink, code, reason).await;
                    return;
                }
                None => return,
            },
            _ = &mut init_timeout, if secret.get().is_none() => {
                close(&mut sink, 4408, "Connection initialisation timeout".to_owned()).await;
                return;
            }
            _ = recheck.tick(), if secret.get().is_some() => {
                let Some(secret) = secret.get() else { continue };
                // Only a verdict on the token closes the socket; a database
                // that cannot be read now is asked again at the next tick.
                if let Err(Error::Unauthenticated(reason)) =
                    state.services.api_tokens.authenticate(secret, ip.clone()).await
                {
                    close(&mut sink, 4403, reason).await;
                    return;
                }
                continue;
            }
            _ = async { closing.wait_for(|closing| *closing).await.map(drop) } => {
                close(&mut sink, 1001, "the server is shutting down".to_owned()).await;
                return;
            }
        };
        if sink.send(outgoing).await.is_err() {
            return;
        }
    }
}

async fn close<S>(sink: &mut S, code: u16, reason: String)
where
    S: futures::Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
