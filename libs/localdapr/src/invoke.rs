//! `InvokeService` (reference §2.5, §6): the deprecated, non-proxy service invocation that
//! daprd 1.18.3 still serves (`pkg/api/grpc/grpc.go`). The caller names an app id and an
//! `InvokeRequest`; the target app's `AppCallback.OnInvoke` gets it, with the caller's gRPC
//! metadata, and its answer — message, headers, or error status — comes back unchanged.
//!
//! daprd's failures on the way (an unknown or unhealthy target, a target without an app port, a
//! malformed method) are `Internal`, `failed to invoke, id: <id>, err: <cause>`
//! (`messages.ErrDirectInvoke`); an error status from the app itself is passed through.

use std::sync::Arc;

use todo_proto::dapr::proto::{common::v1 as common, runtime::v1 as dapr};
use tonic::{
    Request, Response, Status,
    metadata::{KeyAndValueRef, MetadataMap, MetadataValue},
};

use crate::{
    app::{AppInstanceHandle, Unreachable},
    runtime::Runtime,
};

/// The headers daprd puts on an invocation between two apps (`pkg/messaging/v1/util.go`).
const CALLER_APP_ID: &str = "dapr-caller-app-id";
const CALLEE_APP_ID: &str = "dapr-callee-app-id";
/// The caller's sidecar token is for its sidecar only; the target's app token replaces it.
const API_TOKEN: &str = "dapr-api-token";

/// Calls `OnInvoke` on the app `request` names, on behalf of `caller`.
///
/// # Errors
/// `Internal` (daprd's `ErrDirectInvoke`) when the call cannot reach the app; the app's own
/// status when it answers with one.
pub(crate) async fn invoke_service(
    runtime: &Runtime,
    caller: &Arc<AppInstanceHandle>,
    request: Request<dapr::InvokeServiceRequest>,
) -> Result<Response<common::InvokeResponse>, Status> {
    let (incoming_metadata, _, request) = request.into_parts();
    let id = request.id;
    let failed =
        |cause: String| Status::internal(format!("failed to invoke, id: {id}, err: {cause}"));
    let mut message = request.message.unwrap_or_default();
    message.method = normalize_method(&message.method).map_err(|error| {
        failed(format!(
            "rpc error: code = InvalidArgument desc = invalid method: {error}"
        ))
    })?;
    let app_id = target_app_id(&id).map_err(&failed)?;
    // daprd calls its own app directly, without the caller and callee headers, when an app
    // invokes itself (`directMessaging.invokeLocal`).
    let is_local = app_id == caller.app_id();
    let target = if is_local {
        local_target(caller).map_err(&failed)?
    } else {
        remote_target(runtime, app_id).map_err(&failed)?
    };
    let Some(mut callback) = target.callback() else {
        let cause = if is_local {
            "cannot invoke local endpoint: app channel not initialized"
        } else {
            "rpc error: code = Internal desc = app channel is not initialized"
        };
        return Err(failed(cause.into()));
    };
    let mut metadata = forwarded(&incoming_metadata);
    metadata.remove(API_TOKEN);
    if !is_local {
        for (name, value) in [(CALLER_APP_ID, caller.app_id()), (CALLEE_APP_ID, app_id)] {
            if let Ok(value) = MetadataValue::try_from(value) {
                metadata.insert(name, value);
            }
        }
    }
    tracing::debug!(
        caller = caller.app_id(),
        target = app_id,
        method = message.method,
        "invoking OnInvoke"
    );
    let call = Request::from_parts(metadata, Default::default(), message);
    match callback.on_invoke(call).await {
        Ok(response) => {
            let (metadata, message, _) = response.into_parts();
            Ok(Response::from_parts(
                forwarded(&metadata),
                message,
                Default::default(),
            ))
        }
        // The app's status (or the transport's, if it is gone), as daprd passes it on.
        Err(status) => Err(Status::with_details_and_metadata(
            status.code(),
            status.message(),
            status.details().to_vec().into(),
            forwarded(status.metadata()),
        )),
    }
}

/// The app id of `id`: `<app-id>` or `<app-id>.<namespace>` (localdapr has one namespace).
fn target_app_id(id: &str) -> Result<&str, String> {
    if id.is_empty() {
        return Err("app id is empty".into());
    }
    match id.split('.').collect::<Vec<_>>().as_slice() {
        [app_id] | [app_id, _] => Ok(app_id),
        _ => Err(format!("invalid app id {id}")),
    }
}

fn local_target(caller: &Arc<AppInstanceHandle>) -> Result<Arc<AppInstanceHandle>, String> {
    if !caller.is_connected() {
        return Err(format!("app id {} is not connected", caller.app_id()));
    }
    if !caller.is_healthy() {
        return Err("rpc error: code = Internal desc = app is not in a healthy state".into());
    }
    Ok(caller.clone())
}

fn remote_target(runtime: &Runtime, app_id: &str) -> Result<Arc<AppInstanceHandle>, String> {
    runtime
        .apps
        .target(app_id)
        .map_err(|unreachable| match unreachable {
            // What the target's daprd answers its caller's (`CallLocalStream`).
            Unreachable::Unhealthy => "rpc error: code = Internal desc = error invoking app \
                                       channel: rpc error: code = Internal desc = app is not in \
                                       a healthy state"
                .to_string(),
            other => format!("app id {app_id} {}", other.reason()),
        })
}

/// `metadata` without the transport's own headers, which the next hop sets for itself (and a
/// stale `grpc-encoding` or `content-length` would corrupt).
fn forwarded(metadata: &MetadataMap) -> MetadataMap {
    let mut kept = MetadataMap::new();
    for entry in metadata.iter() {
        match entry {
            KeyAndValueRef::Ascii(key, value) => {
                if is_forwarded(key.as_str()) {
                    kept.append(key.clone(), value.clone());
                }
            }
            KeyAndValueRef::Binary(key, value) => {
                if is_forwarded(key.as_str()) {
                    kept.append_bin(key.clone(), value.clone());
                }
            }
        }
    }
    kept
}

fn is_forwarded(name: &str) -> bool {
    let is_transport = (name.starts_with("grpc-") && name != "grpc-trace-bin")
        || matches!(
            name,
            "content-type" | "content-length" | "te" | "host" | "connection" | "date"
        );
    !is_transport
}

/// daprd's `method.NormalizeMethod` (`pkg/messaging/method/normalize.go`): refuses `#`, `?`,
/// NUL and control characters, then resolves `.` and `..` as Go's `path.Clean`, dropping
/// any `..` left at the start.
fn normalize_method(method: &str) -> Result<String, String> {
    if method.contains(['#', '?', '\0']) {
        return Err(format!("method contains forbidden character: {method:?}"));
    }
    if let Some(position) = method.bytes().position(|b| b < 0x20 || b == 0x7f) {
        return Err(format!(
            "method contains control character at position {position}: {method:?}"
        ));
    }
    let mut cleaned = clean_path(method);
    while let Some(rest) = cleaned.strip_prefix("../") {
        cleaned = rest.to_string();
    }
    if cleaned == ".." || cleaned == "." {
        cleaned.clear();
    }
    Ok(cleaned)
}

/// Go's `path.Clean`: the shortest path naming the same element, lexically.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut elements: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match elements.last() {
                Some(&last) if last != ".." => {
                    elements.pop();
                }
                // A rooted path cannot climb above its root; a relative one keeps the `..`.
                _ if rooted => {}
                _ => elements.push(".."),
            },
            _ => elements.push(element),
        }
    }
    let joined = elements.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_normalized_as_daprd_normalizes_them() {
        let cases = [
            ("plain", "say-hello", Ok("say-hello")),
            ("nested", "v1/orders/7", Ok("v1/orders/7")),
            ("dot segments", "a/./b/../c", Ok("a/c")),
            (
                "climbing out is dropped",
                "../../etc/passwd",
                Ok("etc/passwd"),
            ),
            ("only dots", "..", Ok("")),
            ("empty", "", Ok("")),
            ("rooted", "/a//b/", Ok("/a/b")),
            ("rooted climb", "/../a", Ok("/a")),
            ("query", "a?b=1", Err("forbidden character")),
            ("fragment", "a#b", Err("forbidden character")),
            ("nul", "a\0b", Err("forbidden character")),
            ("control", "a\nb", Err("control character at position 1")),
            ("delete", "a\x7f", Err("control character at position 1")),
        ];
        for (case, method, expected) in cases {
            match (normalize_method(method), expected) {
                (Ok(normalized), Ok(expected)) => assert_eq!(normalized, expected, "case: {case}"),
                (Err(error), Err(expected)) => {
                    assert!(error.contains(expected), "case: {case}: {error}")
                }
                (got, _) => panic!("case {case}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn app_ids_may_name_a_namespace_but_not_more() {
        assert_eq!(target_app_id("todo-api"), Ok("todo-api"));
        assert_eq!(target_app_id("todo-api.default"), Ok("todo-api"));
        assert_eq!(target_app_id(""), Err("app id is empty".to_string()));
        assert_eq!(
            target_app_id("a.b.c"),
            Err("invalid app id a.b.c".to_string())
        );
    }

    #[test]
    fn transport_headers_are_not_forwarded() {
        let mut metadata = MetadataMap::new();
        for (name, value) in [
            ("x-user", "u-1"),
            ("traceparent", "00-1-2-01"),
            ("grpc-encoding", "gzip"),
            ("grpc-timeout", "1S"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            metadata.insert(name, value.parse().unwrap());
        }
        metadata.insert_bin("grpc-trace-bin", MetadataValue::from_bytes(b"\x00"));
        metadata.insert_bin("x-blob-bin", MetadataValue::from_bytes(b"\x01"));
        let kept = forwarded(&metadata);
        let mut names: Vec<&str> = kept
            .keys()
            .map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => key.as_str(),
                tonic::metadata::KeyRef::Binary(key) => key.as_str(),
            })
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["grpc-trace-bin", "traceparent", "x-blob-bin", "x-user"]
        );
    }
}
