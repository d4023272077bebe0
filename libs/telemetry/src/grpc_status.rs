//! gRPC status codes as the layer reads them from the wire and writes them to labels and spans.

use tonic::Code;

/// Names the header (trailers-only responses) or trailer that carries the final status code.
pub(crate) const GRPC_STATUS_HEADER: &str = "grpc-status";

/// Reads the `grpc-status` field of headers or trailers; a missing or odd value is `Unknown`.
pub(crate) fn code_from_grpc_status(headers: &http::HeaderMap) -> Code {
    headers
        .get(GRPC_STATUS_HEADER)
        .map_or(Code::Unknown, |value| Code::from_bytes(value.as_bytes()))
}

/// Maps a non-200 HTTP status to a gRPC code, per gRPC's `http-grpc-status-mapping.md`.
pub(crate) fn code_from_http_status(status: http::StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// Tells whether `code` marks a server span as failed, per the OpenTelemetry gRPC conventions.
pub(crate) fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// Names a code as grpc-go and go-grpc-prometheus do, so dashboards carry over.
pub(crate) fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_label() {
        let labels: std::collections::HashSet<_> = (0..=16)
            .map(|value| code_label(Code::from_i32(value)))
            .collect();
        assert_eq!(labels.len(), 17);
        assert_eq!(code_label(Code::Ok), "OK");
        assert_eq!(code_label(Code::NotFound), "NotFound");
    }

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        let cases = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (503, Code::Unavailable),
            (500, Code::Unknown),
        ];
        for (status, expected) in cases {
            let status = http::StatusCode::from_u16(status).unwrap();
            assert_eq!(code_from_http_status(status), expected, "status {status}");
        }
    }

    #[test]
    fn grpc_status_values_are_read_leniently() {
        let cases = [
            ("ok", Some("0"), Code::Ok),
            ("not found", Some("5"), Code::NotFound),
            ("unauthenticated", Some("16"), Code::Unauthenticated),
            ("out of range", Some("17"), Code::Unknown),
            ("not a number", Some("five"), Code::Unknown),
            ("missing", None, Code::Unknown),
        ];
        for (case, value, expected) in cases {
            let mut headers = http::HeaderMap::new();
            if let Some(value) = value {
                headers.insert(GRPC_STATUS_HEADER, value.parse().unwrap());
            }
            assert_eq!(code_from_grpc_status(&headers), expected, "case: {case}");
        }
    }

    #[test]
    fn only_server_side_failures_mark_the_span_as_an_error() {
        let errors: Vec<Code> = (0..=16)
            .map(Code::from_i32)
            .filter(|code| is_server_error(*code))
            .collect();
        assert_eq!(
            errors,
            [
                Code::Unknown,
                Code::DeadlineExceeded,
                Code::Unimplemented,
                Code::Internal,
                Code::Unavailable,
                Code::DataLoss
            ]
        );
    }
}
