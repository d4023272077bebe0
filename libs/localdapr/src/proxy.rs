//! Service invocation in proxy mode (reference §6): a call on a sidecar's port for any service
//! other than the Dapr API, carrying `dapr-app-id`, is forwarded as it is — headers, streaming
//! body and trailers — to an instance of that app. No protos are involved.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, Response};
use tonic::Status;
use tower::ServiceExt;

use crate::{
    app::{AppInstanceHandle, Unreachable},
    runtime::Runtime,
};

const APP_ID: &str = "dapr-app-id";
const CALLER_APP_ID: &str = "dapr-caller-app-id";
const CALLEE_APP_ID: &str = "dapr-callee-app-id";
const API_TOKEN: &str = "dapr-api-token";

/// Forwards `request` from `caller`'s sidecar to the app named by its `dapr-app-id`.
pub(crate) async fn forward(
    runtime: Arc<Runtime>,
    caller: Arc<AppInstanceHandle>,
    mut request: Request<Body>,
) -> Response<Body> {
    let Some(target) = request
        .headers()
        .get(APP_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        // daprd's director fails with a plain error, which gRPC reports as Unknown.
        return refuse(Status::unknown(
            "cannot proxy request: missing dapr-callee-app-id or dapr-app-id metadata",
        ));
    };
    // `<id>.<namespace>` addresses another namespace; localdapr has one.
    let app_id = target.split('.').next().unwrap_or(&target).to_string();
    let instance = match runtime.apps.target(&app_id) {
        Ok(instance) => instance,
        Err(Unreachable::Unhealthy) => {
            // Connected but failing its health checks: daprd's answer (reference §2.6).
            tracing::warn!(
                caller = caller.app_id(),
                target = app_id,
                "cannot proxy call: the app is unhealthy"
            );
            return refuse(Status::internal("app is not in a healthy state"));
        }
        Err(unreachable) => {
            let reason = unreachable.reason();
            tracing::warn!(
                caller = caller.app_id(),
                target = app_id,
                reason,
                "cannot proxy call"
            );
            return refuse(Status::unavailable(format!(
                "failed to proxy request: app id {app_id} {reason}"
            )));
        }
    };
    let Some(channel) = instance.raw_channel() else {
        return refuse(Status::unavailable(format!(
            "failed to proxy request: app {app_id} has no app port"
        )));
    };
    let headers = request.headers_mut();
    headers.remove(APP_ID);
    headers.remove(API_TOKEN);
    for (name, value) in [
        (CALLER_APP_ID, caller.app_id()),
        (CALLEE_APP_ID, app_id.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    if let Some(token) = instance
        .app_api_token
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        headers.insert(API_TOKEN, token);
    }
    tracing::debug!(
        caller = caller.app_id(),
        target = app_id,
        path = request.uri().path(),
        "proxying call"
    );
    match channel.oneshot(request.map(tonic::body::Body::new)).await {
        Ok(response) => response.map(Body::new),
        Err(error) => {
            tracing::warn!(target = app_id, %error, "proxied call failed to reach the app");
            refuse(Status::unavailable(format!(
                "failed to proxy request: {error}"
            )))
        }
    }
}

fn refuse(status: Status) -> Response<Body> {
    status.into_http()
}
