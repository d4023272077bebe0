//! A gRPC-web server stream read as a browser reads it: one HTTP/1.1 POST with
//! `application/grpc-web+proto`, then a chunked body of frames (a 5-byte header: flag 0x00 for a
//! message, 0x80 for the trailers; big-endian length), read incrementally as they arrive.

use std::net::SocketAddr;

use prost::Message;
use todo_proto::todo::v1::{WatchTasksRequest, WatchTasksResponse};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// An open gRPC-web watch.
pub struct GrpcWebWatch {
    stream: TcpStream,
    /// Bytes read and not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked body bytes not yet framed.
    body: Vec<u8>,
}

/// What the next frame held.
#[derive(Debug)]
pub enum Frame {
    Message(Box<WatchTasksResponse>),
    Trailers(String),
}

impl GrpcWebWatch {
    /// Opens `WatchTasks` at the gateway `address` with `access_token`.
    pub async fn open(address: SocketAddr, access_token: &str) -> Self {
        let payload = WatchTasksRequest {}.encode_to_vec();
        let mut body = vec![0u8];
        body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&payload);
        let request = format!(
            "POST /todo.v1.SyncService/WatchTasks HTTP/1.1\r\nhost: {address}\r\n\
             content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n\
             accept: application/grpc-web+proto\r\nauthorization: Bearer {access_token}\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut watch = Self {
            stream,
            raw: Vec::new(),
            body: Vec::new(),
        };
        let head = loop {
            if let Some(end) = watch.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(watch.raw[..end].to_vec()).unwrap();
                watch.raw.drain(..end + 4);
                break head;
            }
            watch.read_more().await;
        };
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_lowercase().contains("transfer-encoding: chunked"),
            "a stream is chunked: {head}"
        );
        watch
    }

    async fn read_more(&mut self) {
        let mut buffer = [0u8; 16 * 1024];
        let read = self.stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the gateway closed the gRPC-web stream early");
        self.raw.extend_from_slice(&buffer[..read]);
    }

    /// Moves every complete chunk from `raw` to `body`.
    fn dechunk(&mut self) {
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_text = std::str::from_utf8(&self.raw[..line_end]).unwrap();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            let chunk_end = line_end + 2 + size + 2;
            if self.raw.len() < chunk_end {
                return;
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..line_end + 2 + size]);
            self.raw.drain(..chunk_end);
        }
    }

    /// The next frame.
    pub async fn next_frame(&mut self) -> Frame {
        loop {
            self.dechunk();
            if self.body.len() >= 5 {
                let length = u32::from_be_bytes(self.body[1..5].try_into().unwrap()) as usize;
                if self.body.len() >= 5 + length {
                    let flag = self.body[0];
                    let payload: Vec<u8> = self.body.drain(..5 + length).skip(5).collect();
                    return if flag & 0x80 == 0 {
                        Frame::Message(Box::new(
                            WatchTasksResponse::decode(payload.as_slice()).unwrap(),
                        ))
                    } else {
                        Frame::Trailers(String::from_utf8(payload).unwrap())
                    };
                }
            }
            self.read_more().await;
        }
    }

    /// The next message; panics on trailers.
    pub async fn next_message(&mut self) -> WatchTasksResponse {
        match tokio::time::timeout(crate::suite::ITEM_DEADLINE, self.next_frame())
            .await
            .expect("a frame in time")
        {
            Frame::Message(message) => *message,
            Frame::Trailers(trailers) => panic!("the stream ended: {trailers}"),
        }
    }
}
