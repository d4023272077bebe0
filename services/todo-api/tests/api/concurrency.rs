//! Concurrent writers: first-write-wins on versions, and etag-conflict retries that let every
//! independent write through.

use futures::future::join_all;
use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::test_app::{create, new_user, spawn_app, titled};

#[tokio::test]
async fn of_32_updates_with_the_same_expected_version_exactly_one_succeeds() {
    let app = spawn_app().await;
    let user = new_user();
    let task = create(&mut app.tasks_for(&user), titled("contended")).await;
    let updates = (0..32).map(|i| {
        let mut tasks = app.tasks_for(&user);
        let id = task.id.clone();
        async move {
            tasks
                .update_task(proto::UpdateTaskRequest {
                    task: Some(proto::Task {
                        id,
                        title: format!("writer {i}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["title".into()],
                    }),
                    expected_version: 1,
                })
                .await
        }
    });
    let outcomes = join_all(updates).await;
    let succeeded = outcomes.iter().filter(|o| o.is_ok()).count();
    let aborted = outcomes
        .iter()
        .filter(|o| o.as_ref().is_err_and(|s| s.code() == Code::Aborted))
        .count();
    assert_eq!(
        (succeeded, aborted),
        (1, 31),
        "{:?}",
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .collect::<Vec<_>>()
    );
    let stored = app
        .tasks_for(&user)
        .get_task(proto::GetTaskRequest { task_id: task.id })
        .await
        .unwrap();
    assert_eq!(stored.into_inner().task.unwrap().version, 2);
}

#[tokio::test]
async fn thirty_two_concurrent_creates_for_one_user_all_succeed() {
    let app = spawn_app().await;
    let user = new_user();
    let creates = (0..32).map(|i| {
        let mut tasks = app.tasks_for(&user);
        async move { tasks.create_task(titled(&format!("task {i}"))).await }
    });
    let outcomes = join_all(creates).await;
    let failures: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let listed = app
        .tasks_for(&user)
        .list_tasks(proto::ListTasksRequest {
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 32);
}
