//! A watch that does not keep up is told to resync and dropped; the others keep up.

use todo_proto::todo::v1::{self as proto, watch_tasks_response::Item};
use tonic::transport::Endpoint;

use crate::suite::{TestSuite, next_item, open_watch};

/// Updates, each carrying two 16 KB snapshots: enough to fill every HTTP/2 window between sync
/// and a client that does not read (about 5 MB over three hops) several times over.
const UPDATES: i64 = 400;

#[tokio::test]
async fn a_slow_watch_is_told_to_resync_while_a_fast_one_keeps_up() {
    let suite = TestSuite::start_with(1, &[("TODO_SYNC_BUFFER_EVENTS", "16")]).await;
    let ada = suite.new_user().await;
    // A client that reads nothing: a small HTTP/2 window, and no reads until the end.
    let slow_channel = Endpoint::from_shared(format!("http://{}", suite.address))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut slow = open_watch(slow_channel, &ada.access_token).await;
    let mut fast = suite.watch(&ada.access_token).await;
    let task = suite.create(&ada.access_token, "draft").await;
    let fast_reader = tokio::spawn(async move {
        let mut last_version = 0;
        while last_version < UPDATES + 1 {
            if let Item::TaskEvent(event) = next_item(&mut fast).await {
                assert!(event.version > last_version, "in order, none twice");
                last_version = event.version;
            }
        }
        last_version
    });

    let texts = ["😀".repeat(4_000), "🙂".repeat(4_000)];
    let mut tasks = suite.tasks(&ada.access_token);
    for update in 0..UPDATES {
        let description = texts[usize::try_from(update % 2).unwrap()].clone();
        tasks
            .update_task(proto::UpdateTaskRequest {
                task: Some(proto::Task {
                    id: task.id.clone(),
                    description,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(
        fast_reader.await.unwrap(),
        UPDATES + 1,
        "the fast watch saw every version"
    );

    let mut delivered = 0;
    let missed = loop {
        match next_item(&mut slow).await {
            Item::TaskEvent(_) => delivered += 1,
            Item::Heartbeat(_) => {}
            Item::ResyncRequired(resync) => break resync.missed_events,
            other => panic!("unexpected item {other:?}"),
        }
    };
    assert!(missed > 0, "it missed events");
    assert!(
        delivered < UPDATES + 1,
        "it was dropped before the end ({delivered} delivered)"
    );
    assert!(
        slow.message().await.unwrap().is_none(),
        "the watch ends after the resync"
    );
}
