//! `GetMetadata` (reference §11): the app id, components, subscriptions, app connection and the
//! extended metadata `SetMetadata` stores (`pkg/api/universal/metadata.go`).

use std::sync::Arc;

use todo_proto::dapr::proto::runtime::v1 as dapr;

use crate::{app::AppInstanceHandle, runtime::Runtime};

/// The runtime version localdapr reports: the Dapr release it follows.
pub const RUNTIME_VERSION: &str = concat!("1.18.3-localdapr-", env!("CARGO_PKG_VERSION"));

/// The extended-metadata attribute daprd sets to its version (deprecated upstream, still set).
const RUNTIME_VERSION_KEY: &str = "daprRuntimeVersion";

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
    let mut extended_metadata: std::collections::HashMap<_, _> =
        app.extended_metadata().into_iter().collect();
    // daprd still adds the deprecated version attribute, overriding a SetMetadata of it.
    extended_metadata.insert(RUNTIME_VERSION_KEY.into(), RUNTIME_VERSION.into());
    dapr::GetMetadataResponse {
        id: app.app_id().to_string(),
        extended_metadata,
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
