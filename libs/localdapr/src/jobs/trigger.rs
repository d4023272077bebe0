//! Delivering one trigger to one instance of the job's app (reference §3.3, §2.1, §2.6):
//! `AppCallback/OnJobEvent`, then `AppCallbackAlpha/OnJobEventAlpha1` when the app answers
//! `Unimplemented`, and the app's answer mapped as daprd maps it.

use std::sync::atomic::{AtomicUsize, Ordering};

use prost_types::Any;
use todo_proto::dapr::proto::{common::v1 as common, runtime::v1 as dapr};
use tonic::{Code, Status};

use crate::app::AppRegistry;

/// What became of a trigger.
#[derive(Debug)]
pub enum Outcome {
    /// The app answered OK.
    Delivered {
        /// The instance that got it.
        instance: String,
    },
    /// The app answered `NotFound` (no handler): daprd counts it as delivered, not retried.
    NotFound {
        /// The instance that got it.
        instance: String,
        /// The app's status.
        status: Status,
    },
    /// The app failed it, or no instance is healthy: the failure policy decides.
    Failed {
        /// The instance that got it, if one did.
        instance: Option<String>,
        /// Why.
        status: Status,
    },
    /// No instance of the app is connected: the trigger waits for one.
    Undeliverable,
}

impl Outcome {
    /// A bounded label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "success",
            Self::NotFound { .. } => "not_found",
            Self::Failed { .. } => "failed",
            Self::Undeliverable => "undeliverable",
        }
    }
}

/// The request daprd sends for a trigger of `name` (reference §3.3).
pub fn job_event_request(name: &str, data: Option<Any>) -> dapr::JobEventRequest {
    dapr::JobEventRequest {
        name: name.to_string(),
        method: format!("job/{name}"),
        content_type: data
            .as_ref()
            .map(|data| data.type_url.clone())
            .unwrap_or_default(),
        data,
        http_extension: Some(common::HttpExtension {
            verb: common::http_extension::Verb::Post.into(),
            querystring: String::new(),
        }),
    }
}

/// Whether some instance of `app_id` could take a trigger (connected, with an app port).
pub fn is_deliverable(apps: &AppRegistry, app_id: &str) -> bool {
    apps.instances_of(app_id)
        .iter()
        .any(|instance| instance.address.is_some() && instance.is_connected())
}

/// Sends a trigger of job `name` to one instance of `app_id`, chosen round robin among the
/// connected, healthy instances that serve an app port.
pub async fn deliver(
    apps: &AppRegistry,
    next_instance: &AtomicUsize,
    app_id: &str,
    name: &str,
    data: Option<Any>,
) -> Outcome {
    let connected: Vec<_> = apps
        .instances_of(app_id)
        .into_iter()
        .filter(|instance| instance.address.is_some() && instance.is_connected())
        .collect();
    if connected.is_empty() {
        return Outcome::Undeliverable;
    }
    let healthy: Vec<_> = connected
        .into_iter()
        .filter(|instance| instance.is_healthy())
        .collect();
    if healthy.is_empty() {
        return Outcome::Failed {
            instance: None,
            status: Status::internal("app is not in a healthy state"),
        };
    }
    let index = next_instance.fetch_add(1, Ordering::Relaxed) % healthy.len();
    let Some(instance) = healthy.get(index) else {
        return Outcome::Undeliverable;
    };
    let (Some(mut callback), Some(mut alpha)) = (instance.callback(), instance.callback_alpha())
    else {
        return Outcome::Undeliverable;
    };
    let request = job_event_request(name, data);
    let answer = match callback.on_job_event(request.clone()).await {
        Err(status) if status.code() == Code::Unimplemented => alpha
            .on_job_event_alpha1(request)
            .await
            .map(tonic::Response::into_inner),
        answer => answer.map(tonic::Response::into_inner),
    };
    let instance = instance.instance.pod_name.clone();
    match answer {
        Ok(_) => Outcome::Delivered { instance },
        Err(status) if status.code() == Code::NotFound => Outcome::NotFound { instance, status },
        Err(status) => Outcome::Failed {
            instance: Some(instance),
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_type_url_as_content_type_and_post() {
        let data = Any {
            type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
            value: vec![10, 2, 104, 105],
        };
        let request = job_event_request("reminder-1", Some(data.clone()));
        assert_eq!(request.name, "reminder-1");
        assert_eq!(request.method, "job/reminder-1");
        assert_eq!(request.content_type, data.type_url);
        assert_eq!(request.data, Some(data));
        assert_eq!(
            request.http_extension.map(|extension| extension.verb),
            Some(common::http_extension::Verb::Post.into())
        );
        assert_eq!(job_event_request("x", None).content_type, "");
    }
}
