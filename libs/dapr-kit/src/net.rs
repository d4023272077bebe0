//! The one place where the suite's servers accept TCP connections: every accepted socket gets
//! `TCP_NODELAY`.
//!
//! gRPC over HTTP/2 writes a response as several small frames. With Nagle's algorithm on, the
//! last small write waits for the peer's ACK, which the peer delays (about 40 ms on Linux): one
//! such stall per call and per hop (44 ms per `ListTasks` through the gateway, 1.6 ms without).
//! `.clippy.toml` forbids `axum::serve` and `TcpListenerStream::new` everywhere else, so a new
//! server cannot forget it. Clients need nothing: tonic's `Endpoint` sets `TCP_NODELAY` by
//! default, and the suite's own endpoints say so explicitly.
//!
//! - [`serve`]: serves an axum [`Router`] (the app port, the admin port, localdapr's sidecars).
//! - [`incoming`]: the accepted connections as a stream, for tonic's `serve_with_incoming`.
//! - [`AcceptedConnection`]: what [`serve`] learned about a connection, on each of its requests.

use std::{
    convert::Infallible,
    future::{Future, Ready},
    io,
    net::SocketAddr,
    task::{Context, Poll},
};

use axum::{
    Extension, Router,
    extract::connect_info::ConnectInfo,
    serve::{IncomingStream, ListenerExt as _, TapIo},
};
use tokio::net::{TcpListener, TcpStream};
use tower::Layer as _;

/// A listener whose accepted sockets have `TCP_NODELAY` set.
pub type NoDelayListener = TapIo<TcpListener, fn(&mut TcpStream)>;

/// Wraps `listener` so that every socket it accepts has `TCP_NODELAY` set.
pub fn no_delay(listener: TcpListener) -> NoDelayListener {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

/// The accepted connections of `listener` with `TCP_NODELAY` set, for tonic's
/// `Server::serve_with_incoming` (test servers and fakes; the suite's own servers use [`serve`]).
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// Every request carries axum's `ConnectInfo<SocketAddr>` (the TCP peer) and an
/// [`AcceptedConnection`].
///
/// # Errors
/// The I/O error that stopped the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that calls axum::serve, on a listener that sets TCP_NODELAY"
    )]
    axum::serve(no_delay(listener), MakeConnectionService { router })
        .with_graceful_shutdown(shutdown)
        .await
}

/// What [`serve`] learned about an accepted connection; each of its requests carries it as an
/// extension, so handlers and tests see the socket as it really is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptedConnection {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether the accepted socket has `TCP_NODELAY` set (read back from the socket).
    pub is_nodelay: bool,
}

fn set_nodelay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        // The connection still works, only slower; a socket that refuses this is already odd.
        tracing::warn!(%error, "cannot set TCP_NODELAY on an accepted connection");
    }
}

/// Makes each connection's service: the router with the connection's extensions.
#[derive(Clone)]
struct MakeConnectionService {
    router: Router,
}

type ConnectionService = axum::middleware::AddExtension<
    axum::middleware::AddExtension<Router, ConnectInfo<SocketAddr>>,
    AcceptedConnection,
>;

impl tower::Service<IncomingStream<'_, NoDelayListener>> for MakeConnectionService {
    type Response = ConnectionService;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, NoDelayListener>) -> Self::Future {
        let peer = *stream.remote_addr();
        let connection = AcceptedConnection {
            peer,
            is_nodelay: stream.io().nodelay().unwrap_or(false),
        };
        let service = Extension(ConnectInfo(peer)).layer(self.router.clone());
        std::future::ready(Ok(Extension(connection).layer(service)))
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener as _;

    use super::*;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay_set() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = no_delay(listener);
        let client = TcpStream::connect(address).await.unwrap();

        let (accepted, peer) = listener.accept().await;

        assert_eq!(peer, client.local_addr().unwrap());
        assert!(
            accepted.nodelay().unwrap(),
            "the accepted socket has TCP_NODELAY"
        );
    }

    #[tokio::test]
    async fn a_plain_accept_would_leave_nagle_on() {
        // Guards the test above: if the kernel defaulted to TCP_NODELAY, it would prove nothing.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = TcpStream::connect(address).await.unwrap();

        let (accepted, _) = listener.accept().await.unwrap();

        assert!(!accepted.nodelay().unwrap());
    }

    #[tokio::test]
    async fn incoming_connections_have_nodelay_set() {
        use futures::StreamExt as _;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = incoming(listener);
        let _client = TcpStream::connect(address).await.unwrap();

        let accepted = incoming.next().await.unwrap().unwrap();

        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn tonic_endpoints_set_nodelay_by_default() {
        // Clients of the suite rely on this default (tonic 0.14 `Endpoint::new_uri`).
        let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1:1");
        assert!(endpoint.get_tcp_nodelay());
    }
}
