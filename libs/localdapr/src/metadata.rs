//! `GetMetadata` (reference §11): the app id, components, subscriptions and app connection.

use std::sync::Arc;

use todo_proto::dapr::proto::runtime::v1 as dapr;

use crate::{app::AppInstanceHandle, runtime::Runtime};

/// The runtime version localdapr reports: the Dapr release it follows.
pub const RUNTIME_VERSION: &str = concat!("1.18.3-localdapr-", env!("CARGO_PKG_VERSION"));

/// Describes the sidecar of `app`.
pub(crate) fn get_metadata(
    runtime: &Arc<Runtime>,
    app: &AppInstanceHandle,
) -> dapr::GetMetadataResponse {
    let registered_components = runtime
        .resources
        .components
        .iter()
        .filter(|c| c.is_visible_to(app.app_id()))
        .map(|c| dapr::RegisteredComponents {
            name: c.name.clone(),
            r#type: c.kind.type_name().to_string(),
            version: c.version.clone(),
            capabilities: c
                .kind
                .capabilities()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        })
        .collect();
    dapr::GetMetadataResponse {
        id: app.app_id().to_string(),
        registered_components,
        subscriptions: runtime.pubsub.subscriptions_of(app),
        app_connection_properties: Some(dapr::AppConnectionProperties {
            port: app.address.map(|a| i32::from(a.port())).unwrap_or(0),
            protocol: "grpc".into(),
            channel_address: app.address.map(|a| a.ip().to_string()).unwrap_or_default(),
            ..Default::default()
        }),
        runtime_version: RUNTIME_VERSION.to_string(),
        scheduler: Some(dapr::MetadataScheduler {
            connected_addresses: vec!["localdapr".into()],
        }),
        ..Default::default()
    }
}
