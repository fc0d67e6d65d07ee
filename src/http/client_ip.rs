//! The client's address: the socket's peer, or, when the peer is a proxy
//! this server was told to trust (`--trusted-proxies`), the address that
//! proxy saw, from `X-Forwarded-For`. Rate limits by address, failed sign-ins
//! and the request log all use it: behind a load balancer, the peer is the
//! balancer for every client.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client's address, as [`resolve`] found it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(Arc::new(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `X-Forwarded-For` read from the right (each
    /// proxy appends the address it saw), skipping trusted proxies; the first
    /// address that is not one is the client. An entry that is not an
    /// address stops the walk (what lies left of it cannot be believed), and
    /// so does the list's start: then the last trusted address seen counts.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        let mut client = peer;
        for hop in hops.rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443`, `203.0.113.7:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The layer that puts [`ClientIp`] in the request's extensions (only
/// installed when some proxy is trusted).
pub async fn resolve(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(client));
    }
    next.run(request).await
}

/// The client's address: [`ClientIp`] when proxies are trusted, otherwise
/// the socket's peer.
pub fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    match extensions.get::<ClientIp>() {
        Some(ClientIp(ip)) => Some(*ip),
        None => extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn client(proxies: &TrustedProxies, peer: &str, forwarded: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        proxies.client(peer.parse().unwrap(), &headers).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        assert_eq!(
            client(&none, "198.51.100.9", &["203.0.113.7"]),
            "198.51.100.9"
        );
        let lb = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client(&lb, "198.51.100.9", &["203.0.113.7"]),
            "198.51.100.9"
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_first_untrusted_address_from_the_right() {
        let lb = trusted(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        assert_eq!(client(&lb, "10.1.2.3", &["203.0.113.7"]), "203.0.113.7");
        // A client's own (spoofed) entries lie left of the one the proxy added.
        assert_eq!(
            client(&lb, "10.1.2.3", &["1.1.1.1, 203.0.113.7, 10.9.9.9"]),
            "203.0.113.7"
        );
        // Several headers read as one list, in order.
        assert_eq!(
            client(&lb, "10.1.2.3", &["1.1.1.1", "203.0.113.7"]),
            "203.0.113.7"
        );
        assert_eq!(
            client(&lb, "2001:db8:ffff::1", &["[2001:db8:1::5]:443"]),
            "2001:db8:1::5"
        );
        assert_eq!(
            client(&lb, "10.1.2.3", &["203.0.113.7:5123"]),
            "203.0.113.7"
        );
        // IPv4 in IPv6 clothing is the IPv4 address.
        assert_eq!(
            client(
                &trusted(&["127.0.0.1/32"]),
                "::ffff:127.0.0.1",
                &["203.0.113.7"]
            ),
            "203.0.113.7"
        );
    }

    #[test]
    fn what_cannot_be_believed_is_not() {
        let lb = trusted(&["10.0.0.0/8"]);
        // No header: the proxy itself.
        assert_eq!(client(&lb, "10.1.2.3", &[]), "10.1.2.3");
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client(&lb, "10.1.2.3", &["203.0.113.7, unknown"]),
            "10.1.2.3"
        );
        assert_eq!(client(&lb, "10.1.2.3", &["unknown, 10.4.4.4"]), "10.4.4.4");
        // Only trusted hops: the leftmost.
        assert_eq!(client(&lb, "10.1.2.3", &["10.7.7.7, 10.4.4.4"]), "10.7.7.7");
    }
}
