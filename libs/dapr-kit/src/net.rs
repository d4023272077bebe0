//! The one place where the suite's servers accept TCP connections: every accepted socket gets
//! `TCP_NODELAY`, and every HTTP/2 connection may carry [`MAX_CONCURRENT_STREAMS`] streams.
//!
//! gRPC over HTTP/2 writes a response as several small frames. With Nagle's algorithm on, the
//! last small write waits for the peer's ACK, which the peer delays (about 40 ms on Linux): one
//! such stall per call and per hop (44 ms per `ListTasks` through the gateway, 1.6 ms without).
//! `.clippy.toml` forbids `axum::serve` and `TcpListenerStream::new` everywhere else, so a new
//! server cannot forget it. Clients need nothing: tonic's `Endpoint` sets `TCP_NODELAY` by
//! default, and the suite's own endpoints say so explicitly.
//!
//! hyper's servers allow 200 concurrent streams per HTTP/2 connection by default; Go's gRPC
//! server (daprd) allows any number. A sidecar multiplexes every call of its app over one
//! connection to each target instance, so one gateway's long-lived `WatchTasks` streams all share
//! the connection from its sidecar to a sync instance: with hyper's default the 201st watch on it
//! failed (issue 12, `just bench fan-out` at 1,000 watchers). [`serve`] raises the limit.
//!
//! Every HTTP/2 peer of the suite also reads frames of up to [`MAX_FRAME_SIZE`] (1 MiB, as Go's
//! `net/http2` server does) instead of the protocol's default of 16 KiB: a create for a user
//! with 10,000 tasks reads about 1 MiB of buckets from the sidecar, and sending it as 64 frames
//! instead of one cost about 0.5 ms of the 3.5 ms the read took (`just bench user-size`).
//!
//! - [`serve`]: serves an axum [`Router`] (the app port, the admin port, localdapr's sidecars).
//! - [`incoming`]: the accepted connections as a stream, for tonic's `serve_with_incoming`.
//! - [`AcceptedConnection`]: what [`serve`] learned about a connection, on each of its requests.

use std::{future::Future, io, net::SocketAddr, pin::pin};

use axum::{
    Extension, Router,
    extract::{Request, connect_info::ConnectInfo},
    serve::{Listener as _, ListenerExt as _, TapIo},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tower::{Layer as _, ServiceExt as _};

/// Concurrent streams an HTTP/2 connection to one of the suite's servers may carry: far above
/// the watches one sidecar connection carries at the suite's sizes (1,000 watchers over 2 sync
/// instances is 500), yet bounded, unlike Go's default.
pub const MAX_CONCURRENT_STREAMS: u32 = 10_000;

/// The largest HTTP/2 frame the suite's servers and its sidecar clients accept (what they
/// advertise as `SETTINGS_MAX_FRAME_SIZE`); peers send data in frames of up to this size.
pub const MAX_FRAME_SIZE: u32 = 1 << 20;

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
/// HTTP/1.1 and HTTP/2 (with upgrades and HTTP/2 WebSockets, as `axum::serve`), at most
/// [`MAX_CONCURRENT_STREAMS`] streams per HTTP/2 connection. Every request carries axum's
/// `ConnectInfo<SocketAddr>` (the TCP peer) and an [`AcceptedConnection`].
///
/// # Errors
/// None today: accept errors are logged and retried, as `axum::serve` does; the `Result` keeps
/// the signature of a server that can fail.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut listener = no_delay(listener);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_frame_size(MAX_FRAME_SIZE)
        // The CONNECT protocol carries HTTP/2 WebSockets.
        .enable_connect_protocol();
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let connection = AcceptedConnection {
            peer,
            is_nodelay: stream.nodelay().unwrap_or(false),
        };
        let service = Extension(connection)
            .layer(Extension(ConnectInfo(peer)).layer(router.clone()))
            .map_request(|request: Request<hyper::body::Incoming>| {
                request.map(axum::body::Body::new)
            });
        let served = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let served = connections.watch(served);
        tokio::spawn(async move {
            if let Err(error) = served.await {
                tracing::trace!(%peer, %error, "connection ended with an error");
            }
        });
    }
    // No new connections; the open ones finish their requests, then close.
    drop(listener);
    connections.shutdown().await;
    Ok(())
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

    #[tokio::test]
    async fn the_server_advertises_its_stream_and_frame_limits() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        use tokio_util::sync::CancellationToken;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Router::new(),
            stop.clone().cancelled_owned(),
        ));
        let mut tcp = TcpStream::connect(address).await.unwrap();
        // The client preface, then an empty SETTINGS frame.
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();

        // The server's preface is its SETTINGS frame: a 9-byte header, then 6-byte entries.
        let mut header = [0_u8; 9];
        tcp.read_exact(&mut header).await.unwrap();
        assert_eq!(header[3], 0x4, "the first frame is SETTINGS");
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0_u8; length];
        tcp.read_exact(&mut payload).await.unwrap();
        let settings: std::collections::HashMap<u16, u32> = payload
            .chunks_exact(6)
            .map(|e| {
                (
                    u16::from_be_bytes([e[0], e[1]]),
                    u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
                )
            })
            .collect();
        assert_eq!(
            settings.get(&0x3),
            Some(&MAX_CONCURRENT_STREAMS),
            "{settings:?}"
        );
        assert_eq!(settings.get(&0x5), Some(&MAX_FRAME_SIZE), "{settings:?}");

        stop.cancel();
        drop(tcp);
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn one_http2_connection_carries_more_than_hypers_default_streams() {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };

        use axum::{extract::State, routing::get};
        use http_body_util::Empty;
        use tokio_util::sync::CancellationToken;

        /// hyper's default is 200: a stream beyond it waits for a slot, so with the default
        /// the handler below would never see all of them at once.
        const STREAMS: usize = 500;

        #[derive(Clone, Default)]
        struct Held {
            entered: Arc<AtomicUsize>,
            release: CancellationToken,
        }
        async fn hold(State(held): State<Held>) -> &'static str {
            held.entered.fetch_add(1, Ordering::SeqCst);
            held.release.cancelled().await;
            "released"
        }

        let held = Held::default();
        let router = Router::new()
            .route("/hold", get(hold))
            .with_state(held.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, router, stop.clone().cancelled_owned()));

        let tcp = TcpStream::connect(address).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..STREAMS {
            let mut sender = sender.clone();
            let request = http::Request::get(format!("http://{address}/hold"))
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            calls.spawn(async move { sender.send_request(request).await.map(|r| r.status()) });
        }

        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while held.entered.load(Ordering::SeqCst) < STREAMS {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {STREAMS} streams reached the handler at once",
                held.entered.load(Ordering::SeqCst)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        held.release.cancel();
        while let Some(status) = calls.join_next().await {
            assert_eq!(status.unwrap().unwrap(), http::StatusCode::OK);
        }
        stop.cancel();
        server.await.unwrap().unwrap();
    }
}
