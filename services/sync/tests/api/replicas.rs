//! Every replica sees every event: each sync instance reads through `pubsub-sync`, whose
//! consumer group is per instance (`consumerID: "{podName}"`).

use todo_proto::todo::v1::{self as proto, sync_service_client::SyncServiceClient};
use tonic::{Code, Request};

use crate::suite::{TestSuite, next_item, task_events};

/// Opens a watch on one replica directly, presenting what its sidecar presents for a call
/// from the gateway: the app token, the caller app id and the user.
async fn watch_replica(
    replica: &localdapr::testsuite::ServedApp,
    caller: &str,
    user_id: &str,
) -> Result<tonic::Streaming<proto::WatchTasksResponse>, tonic::Status> {
    let app_token = replica
        .sidecar
        .app_env()
        .into_iter()
        .find(|(name, _)| *name == "APP_API_TOKEN")
        .map(|(_, token)| token)
        .unwrap();
    let mut request = Request::new(proto::WatchTasksRequest {});
    for (key, value) in [
        ("dapr-api-token", app_token.as_str()),
        ("dapr-caller-app-id", caller),
        ("todo-user-id", user_id),
    ] {
        request.metadata_mut().insert(key, value.parse().unwrap());
    }
    Ok(SyncServiceClient::new(replica.channel())
        .watch_tasks(request)
        .await?
        .into_inner())
}

#[tokio::test]
async fn each_sync_replica_receives_every_event() {
    let suite = TestSuite::start_with(2, &[]).await;
    let ada = suite.new_user().await;
    let mut on_each = Vec::new();
    for replica in &suite.syncs {
        let mut watch = watch_replica(replica, "gateway", &ada.id).await.unwrap();
        next_item(&mut watch).await;
        on_each.push(watch);
    }
    let task = suite.create(&ada.access_token, "seen everywhere").await;
    for (index, watch) in on_each.iter_mut().enumerate() {
        assert_eq!(
            task_events(watch, 1).await,
            [(task.id.clone(), 1, proto::TaskEventType::Created as i32)],
            "replica sync-{index}"
        );
    }
}

#[tokio::test]
async fn a_replica_believes_only_the_gateway_through_its_sidecar() {
    let suite = TestSuite::start().await;
    let replica = &suite.syncs[0];
    let mut forged = Request::new(proto::WatchTasksRequest {});
    for (key, value) in [
        ("dapr-caller-app-id", "gateway"),
        ("todo-user-id", "someone"),
    ] {
        forged.metadata_mut().insert(key, value.parse().unwrap());
    }
    let refused = SyncServiceClient::new(replica.channel())
        .watch_tasks(forged)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "no app token: {refused:?}"
    );
    let other_app = watch_replica(replica, "todo-api", "someone")
        .await
        .unwrap_err();
    assert_eq!(other_app.code(), Code::PermissionDenied, "{other_app:?}");
}
