//! [`OversizedMessageLayer`]: a request message over the size limit answers `RESOURCE_EXHAUSTED`,
//! as the gRPC status-code guide says ("request message larger than max";
//! <https://grpc.github.io/grpc/core/md_doc_statuscodes.html>), and as grpc-go and daprd answer.
//! tonic's decoder answers `OUT_OF_RANGE` instead, before any handler runs, so the code is
//! corrected here, once, for every service the app runner serves. The limit itself is tonic's
//! per-service `max_decoding_message_size` (4 MiB unless a service sets it).

use std::task::{Context, Poll};

use futures::{TryFutureExt as _, future::MapOk};
use tonic::{Code, Status};

/// How tonic 0.14 (`codec/decode.rs`) starts the message of a request over the limit.
const TONIC_DECODE_LIMIT_PREFIX: &str = "Error, decoded message length too large: ";

/// Rewrites tonic's `OUT_OF_RANGE` for a request over the size limit into `RESOURCE_EXHAUSTED`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OversizedMessageLayer;

impl<S> tower::Layer<S> for OversizedMessageLayer {
    type Service = OversizedMessage<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OversizedMessage { inner }
    }
}

/// The service [`OversizedMessageLayer`] builds.
#[derive(Clone, Debug)]
pub struct OversizedMessage<S> {
    inner: S,
}

type Remap<B> = fn(http::Response<B>) -> http::Response<B>;

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>>
    for OversizedMessage<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = MapOk<S::Future, Remap<ResponseBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        self.inner
            .call(request)
            .map_ok(remap_oversized as Remap<ResponseBody>)
    }
}

/// The decoder fails before the handler, so its status is in the headers (trailers-only).
fn remap_oversized<B>(mut response: http::Response<B>) -> http::Response<B> {
    let is_out_of_range = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code.as_bytes() == b"11");
    if !is_out_of_range {
        return response;
    }
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let Some(sizes) = status.message().strip_prefix(TONIC_DECODE_LIMIT_PREFIX) else {
        return response;
    };
    let corrected = Status::new(
        Code::ResourceExhausted,
        format!("request message too large: {sizes}"),
    );
    if let Err(error) = corrected.add_header(response.headers_mut()) {
        tracing::warn!(%error, "cannot rewrite the status of an oversized request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_with(status: &Status) -> http::Response<()> {
        let mut response = http::Response::new(());
        status.add_header(response.headers_mut()).unwrap();
        response
    }

    #[test]
    fn only_the_decoders_size_limit_becomes_resource_exhausted() {
        let oversized = Status::out_of_range(
            "Error, decoded message length too large: found 5000013 bytes, the limit is: 4194304 bytes",
        );
        let cases = [
            ("the decoder's limit", oversized, Code::ResourceExhausted),
            (
                "a handler's own out of range",
                Status::out_of_range("page 9 is past the end"),
                Code::OutOfRange,
            ),
            (
                "another code with the same text",
                Status::internal(
                    "Error, decoded message length too large: found 1 bytes, the limit is: 0 bytes",
                ),
                Code::Internal,
            ),
            ("ok", Status::ok(""), Code::Ok),
        ];
        for (case, status, expected) in cases {
            let response = remap_oversized(response_with(&status));
            let answered = Status::from_header_map(response.headers()).unwrap();
            assert_eq!(answered.code(), expected, "case: {case}");
        }
    }

    #[test]
    fn the_corrected_message_keeps_the_sizes() {
        let status = Status::out_of_range(
            "Error, decoded message length too large: found 5000013 bytes, the limit is: 4194304 bytes",
        );
        let response = remap_oversized(response_with(&status));
        let answered = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(
            answered.message(),
            "request message too large: found 5000013 bytes, the limit is: 4194304 bytes"
        );
    }
}
