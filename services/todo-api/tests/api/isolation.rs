//! A user can never reach another user's tasks, and only trusted apps may call todo-api.

use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::test_app::{create, new_user, spawn_app, titled};

#[tokio::test]
async fn another_users_task_is_not_found_for_every_operation() {
    let app = spawn_app().await;
    let mut alice = app.tasks_for(&new_user());
    let mut bob = app.tasks_for(&new_user());
    let task = create(&mut alice, titled("alice's")).await;
    let id = task.id.clone();
    let update = proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: id.clone(),
            title: "bob was here".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        expected_version: 0,
    };
    let outcomes = [
        (
            "get",
            bob.get_task(proto::GetTaskRequest {
                task_id: id.clone(),
            })
            .await
            .map(|_| ()),
        ),
        ("update", bob.update_task(update).await.map(|_| ())),
        (
            "complete",
            bob.complete_task(proto::CompleteTaskRequest {
                task_id: id.clone(),
                expected_version: 0,
            })
            .await
            .map(|_| ()),
        ),
        (
            "reopen",
            bob.reopen_task(proto::ReopenTaskRequest {
                task_id: id.clone(),
                expected_version: 0,
            })
            .await
            .map(|_| ()),
        ),
        (
            "delete",
            bob.delete_task(proto::DeleteTaskRequest {
                task_id: id.clone(),
                expected_version: 0,
            })
            .await
            .map(|_| ()),
        ),
    ];
    for (operation, outcome) in outcomes {
        assert_eq!(
            outcome.unwrap_err().code(),
            Code::NotFound,
            "operation {operation}"
        );
    }
    let listed = bob
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 0, "bob lists nothing");
    let untouched = alice
        .get_task(proto::GetTaskRequest { task_id: id })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(untouched, task);
}

#[tokio::test]
async fn only_the_gateway_and_recurring_may_call() {
    let app = spawn_app().await;
    let user = new_user();
    let cases = [
        ("audit", Some(user.as_str()), Code::PermissionDenied),
        ("some-tool", Some(user.as_str()), Code::PermissionDenied),
        ("gateway", None, Code::Unauthenticated),
        ("recurring", Some(user.as_str()), Code::Ok),
    ];
    for (app_id, acting_for, expected) in cases {
        let mut tasks = app.tasks_from_app(app_id, acting_for).await;
        let outcome = tasks.list_tasks(proto::ListTasksRequest::default()).await;
        assert_eq!(
            outcome.err().map_or(Code::Ok, |s| s.code()),
            expected,
            "caller {app_id}"
        );
    }
}

#[tokio::test]
async fn only_recurring_may_continue_a_series() {
    let app = spawn_app().await;
    let user = new_user();
    let continuation = proto::CreateTaskRequest {
        series_id: uuid::Uuid::new_v4().to_string(),
        occurrence_index: 1,
        ..titled("next")
    };
    let mut as_gateway = app.tasks_for(&user);
    let refused = as_gateway
        .create_task(continuation.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut as_recurring = app.tasks_from_app("recurring", Some(&user)).await;
    let first = as_recurring
        .create_task(continuation.clone())
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let redelivered = as_recurring
        .create_task(continuation)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(
        first.id, redelivered.id,
        "a redelivered continuation creates nothing new"
    );
    assert_eq!(first.occurrence_index, 1);
}
