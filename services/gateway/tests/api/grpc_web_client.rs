//! A gRPC-web client written out by hand, to show the wire a browser uses: one HTTP/1.1 request
//! with `content-type: application/grpc-web+proto` whose body is a 5-byte frame header (flag 0,
//! big-endian length) and the protobuf message; the response body holds data frames (flag 0x00)
//! and a trailer frame (flag 0x80) of `name: value` lines.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A parsed gRPC-web response.
#[derive(Debug)]
pub struct GrpcWebResponse {
    pub http_status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The data frames' payloads.
    pub messages: Vec<Vec<u8>>,
    /// The trailer frame's entries, names lower-cased.
    pub trailers: Vec<(String, String)>,
}

impl GrpcWebResponse {
    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// `grpc-status`, from the trailer frame or, for a trailers-only answer, the headers.
    pub fn grpc_status(&self) -> Option<&str> {
        find(&self.trailers, "grpc-status").or_else(|| self.header("grpc-status"))
    }

    /// `grpc-message`, wherever `grpc-status` was.
    pub fn grpc_message(&self) -> Option<&str> {
        find(&self.trailers, "grpc-message").or_else(|| self.header("grpc-message"))
    }

    /// The one message of a unary answer.
    pub fn message<M: prost::Message + Default>(&self) -> M {
        assert_eq!(self.messages.len(), 1, "{self:?}");
        M::decode(self.messages[0].as_slice()).unwrap()
    }
}

fn find<'a>(entries: &'a [(String, String)], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Calls `path` (e.g. `/todo.v1.TaskService/CreateTask`) with an encoded message and extra
/// `headers`.
pub async fn call(
    address: SocketAddr,
    path: &str,
    payload: Vec<u8>,
    headers: &[(&str, &str)],
) -> GrpcWebResponse {
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&payload);
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\naccept: application/grpc-web+proto\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> GrpcWebResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let http_status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines.map(name_and_value).collect();
    let mut body = raw[split + 4..].to_vec();
    if find(&headers, "transfer-encoding") == Some("chunked") {
        body = dechunk(&body);
    }
    let (messages, trailers) = frames(&body);
    GrpcWebResponse {
        http_status,
        headers,
        messages,
        trailers,
    }
}

fn name_and_value(line: &str) -> (String, String) {
    let (name, value) = line.split_once(':').unwrap();
    (name.trim().to_lowercase(), value.trim().to_string())
}

/// Undoes HTTP/1.1 chunked transfer coding (hyper streams the gRPC-web body that way).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Splits a gRPC-web body into data frames and the trailer frame.
fn frames(mut body: &[u8]) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
    let mut messages = Vec::new();
    let mut trailers = Vec::new();
    while !body.is_empty() {
        let flag = body[0];
        let length = usize::try_from(u32::from_be_bytes(body[1..5].try_into().unwrap())).unwrap();
        let payload = &body[5..5 + length];
        if flag & 0x80 == 0 {
            messages.push(payload.to_vec());
        } else {
            trailers.extend(
                String::from_utf8(payload.to_vec())
                    .unwrap()
                    .split("\r\n")
                    .filter(|line| !line.is_empty())
                    .map(name_and_value),
            );
        }
        body = &body[5 + length..];
    }
    (messages, trailers)
}
