//! What a forwarded call carries, and how the services' answers come back, seen from a
//! stand-in audit service that records what it receives.

use std::time::Duration;

use todo_proto::todo::v1::{self as proto, sync_service_client::SyncServiceClient};
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::test_app::spawn_app;

fn history_of(task_id: &str) -> proto::ListTaskHistoryRequest {
    proto::ListTaskHistoryRequest {
        task_id: task_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_forwarded_call_carries_the_verified_user_and_nothing_the_client_added() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bob = app.new_user().await;
    let mut request = Request::new(history_of("t1"));
    for (key, value) in [
        ("todo-user-id", bob.user.id.as_str()),
        ("x-custom", "smuggled"),
        ("dapr-api-token", "guess"),
    ] {
        request.metadata_mut().insert(key, value.parse().unwrap());
    }
    app.audit(&ada.tokens.access_token)
        .list_task_history(request)
        .await
        .unwrap();
    let calls = app.audit_calls.received();
    let (metadata, task_id) = calls.last().unwrap();
    assert_eq!(task_id, "t1");
    let values = |key: &str| -> Vec<&str> {
        metadata
            .get_all(key)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    };
    assert_eq!(values("todo-user-id"), [ada.user.id.as_str()]);
    assert_eq!(values("dapr-caller-app-id"), ["gateway"]);
    for absent in ["x-custom", "authorization"] {
        assert!(values(absent).is_empty(), "{absent} must not be forwarded");
    }
    assert_eq!(
        values("dapr-api-token").len(),
        1,
        "only audit's own app token, from its sidecar"
    );
    assert_ne!(values("dapr-api-token"), ["guess"], "never the client's");
}

#[tokio::test]
async fn a_forwarded_call_gets_the_clients_deadline_capped_at_30_seconds() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let cases = [
        (
            "client asks 5 s",
            Some(Duration::from_secs(5)),
            Duration::from_secs(5),
        ),
        (
            "client asks an hour",
            Some(Duration::from_secs(3600)),
            Duration::from_secs(30),
        ),
        ("client sets none", None, Duration::from_secs(30)),
    ];
    for (case, asked, expected) in cases {
        let mut request = Request::new(history_of(case));
        if let Some(asked) = asked {
            request.set_timeout(asked);
        }
        app.audit(&ada.tokens.access_token)
            .list_task_history(request)
            .await
            .unwrap();
        let calls = app.audit_calls.received();
        let (metadata, _) = calls.iter().find(|(_, id)| id == case).unwrap();
        let received = gateway::deadline::client_timeout(metadata).expect("a grpc-timeout");
        assert!(
            received <= expected && received > expected - Duration::from_secs(1),
            "case: {case}: {received:?}"
        );
    }
}

#[tokio::test]
async fn nothing_is_forwarded_without_a_valid_token() {
    let app = spawn_app().await;
    let refused = app
        .audit("not-a-token")
        .list_task_history(history_of("t1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(app.audit_calls.received().is_empty());
}

#[tokio::test]
async fn a_services_error_passes_through_with_its_code_message_and_details() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let status = app
        .audit(&ada.tokens.access_token)
        .list_task_history(history_of("archived"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "history is archived");
    let info = status
        .get_details_error_info()
        .expect("the ErrorInfo detail");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("HISTORY_ARCHIVED", "audit.todo")
    );
}

#[tokio::test]
async fn services_that_are_not_running_answer_unavailable() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let notifications = app
        .notifications(&ada.tokens.access_token)
        .list_notifications(proto::ListNotificationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(notifications.code(), Code::Unavailable, "{notifications:?}");
    let watch = SyncServiceClient::new(app.authorized(&ada.tokens.access_token))
        .watch_tasks(proto::WatchTasksRequest {})
        .await
        .unwrap_err();
    assert_eq!(watch.code(), Code::Unavailable, "{watch:?}");
}

#[tokio::test]
async fn a_watch_streams_through_the_gateway_as_the_user() {
    let mut app = spawn_app().await;
    let sync_calls = app.start_sync_stand_in().await;
    let ada = app.new_user().await;
    let mut watch = SyncServiceClient::new(app.authorized(&ada.tokens.access_token))
        .watch_tasks(proto::WatchTasksRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut items = Vec::new();
    while let Some(response) = watch.message().await.unwrap() {
        items.push(response.item.unwrap());
    }
    assert_eq!(
        items,
        [
            proto::watch_tasks_response::Item::ResyncRequired(proto::ResyncRequired {
                missed_events: 7
            }),
            proto::watch_tasks_response::Item::Heartbeat(proto::Heartbeat {}),
        ]
    );
    let calls = sync_calls.received();
    let (metadata, _) = calls.last().unwrap();
    let value = |key: &str| metadata.get(key).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(value("todo-user-id"), Some(ada.user.id.clone()));
    assert_eq!(
        value("grpc-timeout"),
        None,
        "a watch without a client deadline has none"
    );
}
