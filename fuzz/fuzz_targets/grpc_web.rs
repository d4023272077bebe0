//! Fuzzes gRPC-web on the gateway's public port: HTTP/1.1 requests into the router the app
//! runner serves (`dapr_kit::runner::app_router`, as the gateway configures it: gRPC-web on, the
//! gateway's edge routes beside it, its CORS policy around it), with `grpc.health.v1.Health`
//! as the gRPC service. The frame codec itself is tonic-web's; what is ours, and fuzzed here
//! through the real stack, is the content-type dispatch between gRPC and the edge routes, the
//! size-limit status fix (`OversizedMessageLayer`), the app token and telemetry layers and the
//! CORS policy, plus the gateway's `grpc-timeout` parsing of the same request.
//!
//! Input: byte 0 chooses the request (bits 0-1 the gRPC-web content type, bit 2 a body built
//! from the rest versus the raw rest, bit 3 a non-gRPC content type, bit 4 an allowed origin),
//! byte 1 the length of the `grpc-timeout` value (modulo 12); then that value, then the body (or
//! the service name).
//!
//! Asserts, beyond "no panic":
//! - a gRPC-web request always gets HTTP 200, a gRPC-web content type of the encoding asked for,
//!   and a body that splits into whole frames: data frames, then at most one trailers frame;
//! - the gRPC status is in the headers or in the trailers frame, exactly once, and is a valid
//!   code; never `OUT_OF_RANGE`, which tonic answers for an oversized message and our layer
//!   turns into `RESOURCE_EXHAUSTED`;
//! - a well-formed call gets the exact answer: `SERVING` for "", `NOT_FOUND` for another name,
//!   `RESOURCE_EXHAUSTED` over the size limit;
//! - a request without a gRPC content type reaches the edge routes (no gRPC status);
//! - CORS headers go to the allowed origin only; a parsed `grpc-timeout` is at most 8 digits of hours.
#![no_main]

use std::{path::PathBuf, sync::LazyLock, time::Duration};

use axum::{Router, body::Body};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use tonic::{Code, metadata::MetadataMap, service::RoutesBuilder};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use tower::ServiceExt as _;

/// The gRPC-web content types tonic-web accepts.
const GRPC_WEB_CONTENT_TYPES: [&str; 4] = [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];
/// The request size limit given to the health service, small so fuzzing reaches it.
const MAX_REQUEST_BYTES: usize = 64;
const ALLOWED_ORIGIN: &str = "https://todo.example";
const OTHER_ORIGIN: &str = "https://evil.example";
const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
const TRAILERS_FLAG: u8 = 0x80;

/// One runtime and one router for every input: building them is slower than a request.
struct Port {
    runtime: tokio::runtime::Runtime,
    router: Router,
    /// Keeps the health statuses alive; "" is `SERVING` from the start.
    _health: tonic_health::server::HealthReporter,
}

static PORT: LazyLock<Port> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut routes = RoutesBuilder::default();
    routes.add_service(health_service.max_decoding_message_size(MAX_REQUEST_BYTES));
    let origin = HeaderValue::from_static(ALLOWED_ORIGIN);
    let router = dapr_kit::runner::app_router(
        routes.routes(),
        true,
        None,
        Some(gateway::edge::routes(PathBuf::from(
            "/nonexistent/todo-suite-fuzz/frontend",
        ))),
        gateway::edge::cors(&[origin]),
    );
    Port {
        runtime,
        router,
        _health: health,
    }
});

/// What one input asks for.
struct Call<'a> {
    content_type: &'static str,
    is_built: bool,
    is_grpc: bool,
    origin: &'static str,
    timeout: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Call<'a> {
    fn read(input: &'a [u8]) -> Option<Self> {
        let (&[choice, timeout_len], rest) = input.split_first_chunk::<2>()?;
        let (timeout, rest) = rest.split_at_checked(usize::from(timeout_len % 12))?;
        Some(Self {
            content_type: GRPC_WEB_CONTENT_TYPES[usize::from(choice % 4)],
            is_built: choice & 0b100 != 0,
            is_grpc: choice & 0b1000 == 0,
            origin: if choice & 0b1_0000 != 0 {
                ALLOWED_ORIGIN
            } else {
                OTHER_ORIGIN
            },
            timeout,
            rest,
        })
    }

    fn is_text(&self) -> bool {
        self.content_type.starts_with("application/grpc-web-text")
    }

    /// The built call's service name: the rest, as text.
    fn service_name(&self) -> String {
        String::from_utf8_lossy(self.rest).into_owned()
    }

    fn request(&self) -> Request<Body> {
        let body = if self.is_built {
            let message = HealthCheckRequest {
                service: self.service_name(),
            }
            .encode_to_vec();
            let mut frame = vec![0];
            let length = u32::try_from(message.len()).expect("a fuzz input fits in u32");
            frame.extend_from_slice(&length.to_be_bytes());
            frame.extend_from_slice(&message);
            if self.is_text() {
                STANDARD.encode(frame).into_bytes()
            } else {
                frame
            }
        } else {
            self.rest.to_vec()
        };
        let content_type = if self.is_grpc {
            self.content_type
        } else {
            "text/plain"
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(CHECK_PATH)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, content_type)
            .header("x-grpc-web", "1")
            .header(header::ORIGIN, self.origin);
        if let Ok(timeout) = HeaderValue::from_bytes(self.timeout) {
            request = request.header("grpc-timeout", timeout);
        }
        request.body(Body::from(body)).expect("a valid request")
    }
}

fuzz_target!(|input: &[u8]| {
    let Some(call) = Call::read(input) else {
        return;
    };
    let request = call.request();
    check_timeout(request.headers());
    let port = &*PORT;
    let response = port
        .runtime
        .block_on(port.router.clone().oneshot(request))
        .unwrap_or_else(|infallible| match infallible {});
    check_cors(&call, response.headers());
    if !call.is_grpc {
        assert!(
            response.headers().get("grpc-status").is_none(),
            "a request without a gRPC content type reaches the edge routes"
        );
        return;
    }
    let (status, messages) = port.runtime.block_on(read_grpc_web(&call, response));
    if call.is_built {
        check_answer(&call, status, &messages);
    }
});

/// The gateway's reading of `grpc-timeout`: at most 8 digits of the largest unit, hours.
fn check_timeout(headers: &HeaderMap) {
    let metadata = MetadataMap::from_headers(headers.clone());
    if let Some(timeout) = gateway::deadline::client_timeout(&metadata) {
        assert!(
            timeout <= Duration::from_secs(99_999_999 * 3600),
            "{timeout:?}"
        );
    }
}

fn check_cors(call: &Call<'_>, headers: &HeaderMap) {
    let allowed = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    if call.origin == ALLOWED_ORIGIN {
        assert_eq!(allowed, Some(&HeaderValue::from_static(ALLOWED_ORIGIN)));
    } else {
        assert_eq!(allowed, None, "no CORS headers for an origin not allowed");
    }
}

/// Checks the response's gRPC-web framing; returns its status code and data frames.
async fn read_grpc_web(call: &Call<'_>, response: Response<Body>) -> (Code, Vec<Vec<u8>>) {
    assert_eq!(response.status(), StatusCode::OK, "gRPC-web answers 200");
    let expected_type = if call.is_text() {
        "application/grpc-web-text+proto"
    } else {
        "application/grpc-web+proto"
    };
    let content_type = response.headers().get(header::CONTENT_TYPE);
    assert_eq!(
        content_type.and_then(|value| value.to_str().ok()),
        Some(expected_type)
    );
    let header_status = response.headers().get("grpc-status").cloned();
    let collected = response
        .into_body()
        .collect()
        .await
        .expect("the response body reads");
    assert!(
        collected.trailers().is_none(),
        "gRPC-web trailers are in the body"
    );
    let body = collected.to_bytes();
    let body = if call.is_text() {
        decode_text(&body)
    } else {
        body.to_vec()
    };
    let (messages, trailers) = frames(&body);
    let trailer_status = trailers
        .as_deref()
        .and_then(|block| trailer(block, "grpc-status"));
    let status = match (header_status, trailer_status) {
        (Some(status), None) => status.as_bytes().to_vec(),
        (None, Some(status)) => status,
        (headers, trailers) => {
            panic!("grpc-status exactly once: headers {headers:?}, trailers {trailers:?}")
        }
    };
    let code = std::str::from_utf8(&status)
        .ok()
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|code| (0..=16).contains(code))
        .map(Code::from)
        .unwrap_or_else(|| panic!("grpc-status {status:?} is a code"));
    assert_ne!(
        code,
        Code::OutOfRange,
        "an oversized message is RESOURCE_EXHAUSTED"
    );
    (code, messages)
}

/// Decodes a grpc-web-text body: each chunk is padded base64 of its own, so the text is read
/// one 4-character quantum at a time.
fn decode_text(body: &[u8]) -> Vec<u8> {
    assert_eq!(body.len() % 4, 0, "grpc-web-text is whole base64 quanta");
    body.chunks(4)
        .flat_map(|quantum| {
            STANDARD
                .decode(quantum)
                .unwrap_or_else(|error| panic!("{quantum:?} is base64: {error}"))
        })
        .collect()
}

/// Splits a gRPC-web body into data payloads and the trailers block, checking that frames are
/// whole and that nothing follows the trailers.
fn frames(mut body: &[u8]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut messages = Vec::new();
    while let Some((&[flag, a, b, c, d], rest)) = body.split_first_chunk::<5>() {
        let length = usize::try_from(u32::from_be_bytes([a, b, c, d])).expect("u32 fits usize");
        let payload = rest
            .get(..length)
            .unwrap_or_else(|| panic!("a frame of {length} bytes, {} left", rest.len()));
        body = rest.get(length..).unwrap_or_default();
        match flag {
            0 => messages.push(payload.to_vec()),
            TRAILERS_FLAG => {
                assert!(body.is_empty(), "nothing follows the trailers frame");
                return (messages, Some(payload.to_vec()));
            }
            other => panic!("unexpected frame flag {other:#x}"),
        }
    }
    assert!(body.is_empty(), "no partial frame header: {body:?}");
    (messages, None)
}

/// The value of `name` in a trailers block (`name:value\r\n` lines).
fn trailer(block: &[u8], name: &str) -> Option<Vec<u8>> {
    block.split(|byte| *byte == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|byte| *byte == b':')?;
        let (key, value) = line.split_at(colon);
        key.eq_ignore_ascii_case(name.as_bytes())
            .then(|| value.get(1..).unwrap_or_default().trim_ascii().to_vec())
    })
}

/// A well-formed Check call gets exactly the answer the health service gives.
fn check_answer(call: &Call<'_>, code: Code, messages: &[Vec<u8>]) {
    let service = call.service_name();
    let size = HealthCheckRequest {
        service: service.clone(),
    }
    .encoded_len();
    let expected = if size > MAX_REQUEST_BYTES {
        Code::ResourceExhausted
    } else if service.is_empty() {
        Code::Ok
    } else {
        Code::NotFound
    };
    assert_eq!(code, expected, "a {size}-byte check of {service:?}");
    if code == Code::Ok {
        let [message] = messages else {
            panic!("one response message, got {}", messages.len());
        };
        let response =
            HealthCheckResponse::decode(message.as_slice()).expect("a HealthCheckResponse");
        assert_eq!(response.status(), ServingStatus::Serving);
    }
}
