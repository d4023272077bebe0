//! The address a call came from, for the per-address sign-in limit.
//!
//! By default it is the TCP peer (axum's `ConnectInfo`, which the app runner records for gRPC
//! and gRPC-web alike). Behind a proxy every peer is the proxy, so with
//! `TODO_TRUST_FORWARDED_FOR=true` the gateway takes the right-most `X-Forwarded-For` entry: the
//! address the nearest proxy saw, which a client cannot forge (entries to its left can be). Only
//! enable it when the port is reachable through that proxy alone.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::Extensions;
use tonic::metadata::MetadataMap;

/// The metadata key proxies append client addresses to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address, if it can be told.
pub fn client_address(
    extensions: &Extensions,
    metadata: &MetadataMap,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if !trust_forwarded_for {
        return peer;
    }
    // Only the right-most entry counts: skipping a garbled one would trust what the client wrote.
    let nearest = metadata
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back();
    nearest
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok())
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_peer_is_used_unless_forwarded_for_is_trusted() {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 4000))));
        let mut metadata = MetadataMap::new();
        metadata.insert(FORWARDED_FOR, "1.2.3.4, 203.0.113.7".parse().unwrap());
        let cases = [
            ("untrusted header", false, ip("10.0.0.9")),
            (
                "trusted: the nearest proxy's entry",
                true,
                ip("203.0.113.7"),
            ),
        ];
        for (case, trust, expected) in cases {
            assert_eq!(
                client_address(&extensions, &metadata, trust),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_the_peer() {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 4000))));
        let mut garbled = MetadataMap::new();
        garbled.insert(FORWARDED_FOR, "1.2.3.4, unknown".parse().unwrap());
        for (case, metadata) in [("absent", MetadataMap::new()), ("garbled", garbled)] {
            assert_eq!(
                client_address(&extensions, &metadata, true),
                ip("10.0.0.9"),
                "case: {case}"
            );
        }
        assert_eq!(
            client_address(&Extensions::new(), &MetadataMap::new(), false),
            None
        );
    }
}
