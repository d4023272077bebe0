//! TaskService through the gateway over gRPC: the whole lifecycle, isolation between users, and
//! todo-api's errors arriving intact.

use todo_proto::todo::v1::{self as proto, TaskStatus};
use tonic::Code;

use crate::test_app::{spawn_app, titled};

#[tokio::test]
async fn a_task_lives_its_whole_life_through_the_gateway() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let mut tasks = app.tasks(&ada.tokens.access_token);

    let created = tasks
        .create_task(proto::CreateTaskRequest {
            tags: vec!["home".into()],
            ..titled("buy milk")
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!((created.title.as_str(), created.version), ("buy milk", 1));
    assert_eq!(created.user_id, ada.user.id, "owned by the token's user");

    let listed = tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tasks, std::slice::from_ref(&created));

    let updated = tasks
        .update_task(proto::UpdateTaskRequest {
            task: Some(proto::Task {
                id: created.id.clone(),
                title: "buy oat milk".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            expected_version: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.version),
        ("buy oat milk", 2)
    );

    let completed = tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: created.id.clone(),
            expected_version: 2,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(completed.status(), TaskStatus::Completed);

    let reopened = tasks
        .reopen_task(proto::ReopenTaskRequest {
            task_id: created.id.clone(),
            expected_version: 3,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!((reopened.status(), reopened.version), (TaskStatus::Open, 4));

    let fetched = tasks
        .get_task(proto::GetTaskRequest {
            task_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(fetched, reopened);

    tasks
        .delete_task(proto::DeleteTaskRequest {
            task_id: created.id.clone(),
            expected_version: 4,
        })
        .await
        .unwrap();
    let gone = tasks
        .get_task(proto::GetTaskRequest {
            task_id: created.id,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn another_users_task_is_not_found_through_the_gateway() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bob = app.new_user().await;
    let task = app
        .tasks(&ada.tokens.access_token)
        .create_task(titled("ada's"))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let mut as_bob = app.tasks(&bob.tokens.access_token);
    let outcomes = [
        (
            "get",
            as_bob
                .get_task(proto::GetTaskRequest {
                    task_id: task.id.clone(),
                })
                .await
                .map(|_| ()),
        ),
        (
            "complete",
            as_bob
                .complete_task(proto::CompleteTaskRequest {
                    task_id: task.id.clone(),
                    expected_version: 0,
                })
                .await
                .map(|_| ()),
        ),
        (
            "delete",
            as_bob
                .delete_task(proto::DeleteTaskRequest {
                    task_id: task.id.clone(),
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
}

#[tokio::test]
async fn todo_api_validation_errors_arrive_with_their_field_paths() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let status = app
        .tasks(&ada.tokens.access_token)
        .create_task(proto::CreateTaskRequest {
            tags: vec!["ok".into(), "x".repeat(33)],
            priority: 42,
            ..titled("   ")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = todo_proto::status::field_violations(&status)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, ["title", "priority", "tags[1]"]);
    assert!(status.message().contains("title"), "{}", status.message());
}
