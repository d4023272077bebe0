//! NotificationService through the gateway: unread counts, MarkRead, paging.

use chrono::TimeDelta;
use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::test_app::{TestApp, TestUser, in_seconds, spawn_app};

/// Gives `user` two notifications, "first" then "second", and returns their ids.
async fn two_notifications(app: &TestApp, user: &TestUser) -> (String, String) {
    let at = in_seconds(1.5);
    let first = app.task_reminding_at(user, "first", at).await;
    let second_at = at + TimeDelta::milliseconds(200);
    let second = app.task_reminding_at(user, "second", second_at).await;
    let deadline = second_at + TimeDelta::seconds(5);
    let (first, ..) = app.wait_for_reminder(user, &first.id, deadline).await;
    let (second, ..) = app.wait_for_reminder(user, &second.id, deadline).await;
    (first.id, second.id)
}

#[tokio::test]
async fn mark_read_lowers_the_unread_count_and_unknown_ids_are_ignored() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let (first, second) = two_notifications(&app, &ada).await;
    let listed = app.list(&ada).await;
    let titles: Vec<_> = listed
        .notifications
        .iter()
        .map(|n| n.title.as_str())
        .collect();
    assert_eq!(titles, ["second", "first"], "newest first");
    assert_eq!(listed.unread_count, 2);

    app.notifications(&ada)
        .mark_read(proto::MarkReadRequest {
            notification_ids: vec![first.clone(), "no-such-id".into()],
        })
        .await
        .unwrap();

    let listed = app.list(&ada).await;
    assert_eq!(listed.unread_count, 1);
    let read: Vec<_> = listed
        .notifications
        .iter()
        .map(|n| (n.id.as_str(), n.read))
        .collect();
    assert_eq!(read, [(second.as_str(), false), (first.as_str(), true)]);
    let unread = app
        .notifications(&ada)
        .list_notifications(proto::ListNotificationsRequest {
            unread_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let unread: Vec<_> = unread.notifications.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(unread, [second.as_str()]);
}

#[tokio::test]
async fn pages_are_newest_first_and_their_tokens_belong_to_their_user() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bob = app.new_user().await;
    let (first, second) = two_notifications(&app, &ada).await;
    let page = |token: String| proto::ListNotificationsRequest {
        page_size: 1,
        page_token: token,
        unread_only: false,
    };

    let one = app
        .notifications(&ada)
        .list_notifications(page(String::new()))
        .await
        .unwrap()
        .into_inner();
    let two = app
        .notifications(&ada)
        .list_notifications(page(one.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(one.notifications[0].id, second);
    assert_eq!(two.notifications[0].id, first);
    assert!(two.next_page_token.is_empty(), "the last page");
    let stolen = app
        .notifications(&bob)
        .list_notifications(page(one.next_page_token))
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::InvalidArgument);
    let too_big = app
        .notifications(&ada)
        .list_notifications(proto::ListNotificationsRequest {
            page_size: 201,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::InvalidArgument);
    assert_eq!(
        todo_proto::status::field_violations(&too_big)[0].0,
        "page_size"
    );
}
