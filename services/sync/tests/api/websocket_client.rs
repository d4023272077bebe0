//! A WebSocket client of the gateway's `/ws`, as a browser uses it.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use todo_proto::todo::v1::WatchTasksResponse;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::CloseFrame},
};

/// An open `/ws` socket.
pub struct WebSocketWatch {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the gateway sent next.
#[derive(Debug)]
pub enum Received {
    Item(Box<WatchTasksResponse>),
    Closed { code: u16, reason: String },
}

impl WebSocketWatch {
    /// Connects to `/ws` without sending anything yet.
    pub async fn connect(address: SocketAddr) -> Self {
        let (socket, response) = connect_async(format!("ws://{address}/ws")).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        Self { socket }
    }

    /// Connects and authenticates with `access_token` in the first message.
    pub async fn open(address: SocketAddr, access_token: &str) -> Self {
        let mut watch = Self::connect(address).await;
        watch
            .send_text(&serde_json::json!({ "accessToken": access_token }).to_string())
            .await;
        watch
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next item or the close frame, within the item deadline.
    pub async fn receive(&mut self) -> Received {
        loop {
            let message = tokio::time::timeout(crate::suite::ITEM_DEADLINE, self.socket.next())
                .await
                .expect("a frame in time")
                .expect("a close frame before the end")
                .unwrap();
            match message {
                Message::Text(text) => {
                    let item =
                        todo_proto::json::from_json(text.as_bytes()).unwrap_or_else(|error| {
                            panic!("not a WatchTasksResponse: {text}: {error}")
                        });
                    return Received::Item(Box::new(item));
                }
                Message::Close(frame) => {
                    let (code, reason) = frame
                        .map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Received::Closed { code, reason };
                }
                Message::Binary(_) => panic!("the gateway sends text frames only"),
                _ => {}
            }
        }
    }

    /// The next item; panics on a close.
    pub async fn next_item(&mut self) -> WatchTasksResponse {
        match self.receive().await {
            Received::Item(item) => *item,
            closed => panic!("the socket closed: {closed:?}"),
        }
    }
}
