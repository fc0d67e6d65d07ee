//! The request log's edge: every request, GraphQL or not, becomes one
//! record handed to the request log's queue (one `try_send`, never a wait).
//!
//! Handlers say what only they know by putting it in the response's
//! extensions: the GraphQL operation's name ([`Operation`]), the caller
//! ([`Caller`]) and the first error's code ([`ErrorCode`], which problem
//! responses and GraphQL transport failures carry too). Other routes are
//! named `METHOD /route`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::client_ip::client_ip;
use crate::service::requests::{RequestLog, RequestRecord};
use crate::service::{Principal, RealmAccess};

/// The GraphQL operation a response answered.
#[derive(Debug, Clone)]
pub struct Operation(pub String);

/// The first error's `extensions.code` (GraphQL) or `code` (problem+json).
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    token_id: Option<i32>,
    token_name: String,
    realm: Option<String>,
}

impl Caller {
    pub fn of(principal: &Principal) -> Self {
        // A request belongs to a realm when its token is bound to exactly one.
        let realm = match &principal.realms {
            RealmAccess::Only(names) if names.len() == 1 => names.first().cloned(),
            _ => None,
        };
        Self {
            token_id: principal.token_id,
            token_name: principal.name.clone(),
            realm,
        }
    }
}

/// Longest operation name stored (the column's width).
const MAX_OPERATION_CHARS: usize = 200;

pub async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = log.now();
    let ip_address = client_ip(request.extensions()).map(|ip| anonymise(ip).to_string());
    let method = request.method().clone();
    let path = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    let duration = started.elapsed();
    let extensions = response.extensions_mut();
    let operation = match extensions.remove::<Operation>() {
        Some(Operation(name)) => truncate(name),
        None => match path {
            Some(path) => format!("{method} {}", path.as_str()),
            None => format!("{method} (no route)"),
        },
    };
    let status = response.status();
    let error_code = match response.extensions_mut().remove::<ErrorCode>() {
        Some(ErrorCode(code)) => Some(code),
        // Answered by a layer rather than a handler (body limit, timeout,
        // no such route): the status says what happened.
        None if status.is_client_error() || status.is_server_error() => {
            Some(format!("HTTP_{}", status.as_u16()))
        }
        None => None,
    };
    let caller = response.extensions_mut().remove::<Caller>();
    let (token_id, token_name, realm) = match caller {
        Some(c) => (c.token_id, Some(c.token_name), c.realm),
        None => (None, None, None),
    };
    log.record(RequestRecord {
        at,
        operation,
        error_code,
        duration,
        token_id,
        token_name,
        realm,
        ip_address,
    });
    response
}

fn truncate(mut name: String) -> String {
    if let Some((cut, _)) = name.char_indices().nth(MAX_OPERATION_CHARS) {
        name.truncate(cut);
    }
    name
}

/// The address with its host part zeroed: IPv4 to its /24, IPv6 to its /48
/// (the last 80 bits), as the contract says.
pub fn anonymise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => anonymise(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_host_part() {
        let anon = |s: &str| anonymise(s.parse().unwrap()).to_string();
        assert_eq!(anon("203.0.113.77"), "203.0.113.0");
        assert_eq!(anon("127.0.0.1"), "127.0.0.0");
        assert_eq!(anon("2001:db8:abcd:12:1:2:3:4"), "2001:db8:abcd::");
        assert_eq!(anon("::ffff:198.51.100.9"), "198.51.100.0");
        assert_eq!(anon("::1"), "::");
    }

    #[test]
    fn long_operation_names_are_cut_on_a_character() {
        let name = "é".repeat(300);
        assert_eq!(truncate(name).chars().count(), MAX_OPERATION_CHARS);
        assert_eq!(truncate("Short".to_owned()), "Short");
    }
}
