//! Watches through the gateway: a user's watches all see their changes, another user's see
//! none; gRPC-web and the WebSocket deliver the same items; idle watches get heartbeats.

use std::time::Duration;

use todo_proto::todo::v1::{self as proto, TaskEventType, watch_tasks_response::Item};

use crate::{
    grpc_web_watch::GrpcWebWatch,
    suite::{TestSuite, assert_quiet, next_item, task_events},
    websocket_client::WebSocketWatch,
};

#[tokio::test]
async fn two_watches_of_a_user_see_their_changes_and_another_users_watch_sees_none() {
    let suite = TestSuite::start_with(2, &[]).await;
    let (ada, bob) = (suite.new_user().await, suite.new_user().await);
    let mut ada_first = suite.watch(&ada.access_token).await;
    let mut ada_second = suite.watch(&ada.access_token).await;
    let mut bob_watch = suite.watch(&bob.access_token).await;

    let milk = suite.create(&ada.access_token, "buy milk").await;
    let bread = suite.create(&ada.access_token, "buy bread").await;
    suite
        .tasks(&ada.access_token)
        .complete_task(proto::CompleteTaskRequest {
            task_id: milk.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut expected = vec![
        (milk.id.clone(), 1, TaskEventType::Created as i32),
        (bread.id.clone(), 1, TaskEventType::Created as i32),
        (milk.id.clone(), 2, TaskEventType::Completed as i32),
    ];
    expected.sort();
    for (who, watch) in [("first", &mut ada_first), ("second", &mut ada_second)] {
        let mut seen = task_events(watch, 3).await;
        seen.sort();
        assert_eq!(
            seen, expected,
            "ada's {who} watch sees each of her changes once"
        );
    }

    let own = suite.create(&bob.access_token, "bob's own").await;
    assert_eq!(
        task_events(&mut bob_watch, 1).await,
        [(own.id, 1, TaskEventType::Created as i32)],
        "bob's watch sees his change, and nothing of ada's before it"
    );
    assert_quiet(&mut bob_watch, Duration::from_millis(300)).await;
    assert_quiet(&mut ada_first, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn grpc_web_and_the_websocket_deliver_the_same_items() {
    let suite = TestSuite::start().await;
    let ada = suite.new_user().await;
    let mut grpc_web = GrpcWebWatch::open(suite.address, &ada.access_token).await;
    let mut websocket = WebSocketWatch::open(suite.address, &ada.access_token).await;
    let opening = proto::WatchTasksResponse {
        item: Some(Item::Heartbeat(proto::Heartbeat {})),
    };
    assert_eq!(grpc_web.next_message().await, opening);
    assert_eq!(websocket.next_item().await, opening);

    let task = suite.create(&ada.access_token, "water plants").await;
    suite
        .tasks(&ada.access_token)
        .delete_task(proto::DeleteTaskRequest {
            task_id: task.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut over_grpc_web = Vec::new();
    let mut over_websocket = Vec::new();
    while over_grpc_web.len() < 2 {
        let message = grpc_web.next_message().await;
        if matches!(message.item, Some(Item::TaskEvent(_))) {
            over_grpc_web.push(message);
        }
    }
    while over_websocket.len() < 2 {
        let message = websocket.next_item().await;
        if matches!(message.item, Some(Item::TaskEvent(_))) {
            over_websocket.push(message);
        }
    }
    assert_eq!(
        over_grpc_web, over_websocket,
        "the same events, field for field"
    );
    let versions: Vec<i64> = over_websocket
        .iter()
        .map(|m| match &m.item {
            Some(Item::TaskEvent(event)) => event.version,
            _ => unreachable!(),
        })
        .collect();
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [1, 2],
        "the creation and the deletion, with their versions"
    );
}

#[tokio::test]
async fn an_idle_watch_gets_heartbeats() {
    let suite = TestSuite::start_with(1, &[("TODO_SYNC_HEARTBEAT_SECONDS", "1")]).await;
    let ada = suite.new_user().await;
    let mut watch = suite.watch(&ada.access_token).await;
    let started = tokio::time::Instant::now();
    for beat in 1..=2 {
        assert_eq!(
            next_item(&mut watch).await,
            Item::Heartbeat(proto::Heartbeat {}),
            "heartbeat {beat}"
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(5),
        "one per idle second: {elapsed:?}"
    );
}
