//! Who sees what: a user sees only their own notifications, and only the gateway is believed
//! about who the user is.

use todo_proto::todo::v1::{self as proto, notification_service_client::NotificationServiceClient};
use tonic::Code;

use crate::test_app::{in_seconds, spawn_app};

#[tokio::test]
async fn a_user_sees_and_marks_only_their_own_notifications() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bob = app.new_user().await;
    let at = in_seconds(1.5);
    let task = app.task_reminding_at(&ada, "ada's", at).await;
    let (notification, ..) = app
        .wait_for_reminder(&ada, &task.id, at + chrono::TimeDelta::seconds(5))
        .await;

    let bobs = app.list(&bob).await;
    assert!(bobs.notifications.is_empty(), "bob sees none of ada's");
    assert_eq!(bobs.unread_count, 0);
    app.notifications(&bob)
        .mark_read(proto::MarkReadRequest {
            notification_ids: vec![notification.id.clone()],
        })
        .await
        .unwrap();
    let adas = app.list(&ada).await;
    assert_eq!(adas.unread_count, 1, "bob cannot mark ada's read");
    assert!(!adas.notifications[0].read);
}

#[tokio::test]
async fn only_the_gateway_is_believed_about_the_user() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let cases = [
        (
            "another app naming a user",
            Some(ada.id.as_str()),
            Code::PermissionDenied,
        ),
        ("another app naming nobody", None, Code::PermissionDenied),
    ];
    let intruder = app.dapr.client("intruder").await;
    for (case, user, code) in cases {
        let channel = match user {
            Some(user) => intruder.client.app_channel_for_user("notification", user),
            None => intruder.client.app_channel("notification"),
        }
        .unwrap();
        let error = NotificationServiceClient::new(channel)
            .list_notifications(proto::ListNotificationsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "case: {case}");
    }
    let direct = NotificationServiceClient::new(app.notification.channel())
        .list_notifications(proto::ListNotificationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        direct.code(),
        Code::Unauthenticated,
        "without the app token"
    );
}
