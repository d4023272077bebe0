//! The app runner accepts through `dapr_kit::net`: a request on the app port sees its accepted
//! socket with `TCP_NODELAY` set.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::net::SocketAddr;

use axum::{Extension, Router, extract::ConnectInfo, routing::get};
use dapr_kit::{AppListeners, AppServer, net::AcceptedConnection};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

async fn socket_report(
    Extension(connection): Extension<AcceptedConnection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> String {
    format!(
        "nodelay={} same_peer={}",
        connection.is_nodelay,
        peer == connection.peer
    )
}

#[tokio::test]
async fn the_app_port_accepts_sockets_with_nodelay_set() {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let address = listeners.app_address().unwrap();
    let server = AppServer::new().http_routes(Router::new().route("/socket", get(socket_report)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listeners, async {
        stopped.await.ok();
    }));

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /socket HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();

    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nnodelay=true same_peer=true"),
        "{response}"
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
