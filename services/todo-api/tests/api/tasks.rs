//! The task lifecycle: create, get, update, complete, reopen, delete, with versions.

use todo_proto::todo::v1::{self as proto, Priority, TaskStatus};
use tonic::Code;

use crate::test_app::{create, new_user, spawn_app, titled};

#[tokio::test]
async fn a_task_goes_through_its_whole_lifecycle() {
    let app = spawn_app().await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);

    let request = proto::CreateTaskRequest {
        title: "  Buy milk ".into(),
        tags: vec!["Errands".into(), "errands".into(), "Home".into()],
        priority: Priority::High as i32,
        ..Default::default()
    };
    let created = create(&mut tasks, request).await;
    assert_eq!(created.title, "Buy milk", "titles are trimmed");
    assert_eq!(
        created.tags,
        ["errands", "home"],
        "tags are lower-cased and deduplicated"
    );
    assert_eq!((created.version, created.status()), (1, TaskStatus::Open));
    assert_eq!(created.user_id, user);

    let fetched = tasks
        .get_task(proto::GetTaskRequest {
            task_id: created.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(fetched.into_inner().task.unwrap(), created);

    let update = proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: created.id.clone(),
            title: "Buy oat milk".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        expected_version: 1,
    };
    let updated = tasks
        .update_task(update)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.version, updated.priority()),
        ("Buy oat milk", 2, Priority::High)
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
    assert_eq!(
        (completed.status(), completed.version),
        (TaskStatus::Completed, 3)
    );
    assert!(completed.complete_time.is_some());

    let again = tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: created.id.clone(),
            expected_version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

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
    assert!(reopened.complete_time.is_none());

    tasks
        .delete_task(proto::DeleteTaskRequest {
            task_id: created.id.clone(),
            expected_version: 4,
        })
        .await
        .unwrap();
    let gone = tasks
        .get_task(proto::GetTaskRequest {
            task_id: created.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted_and_changes_nothing() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let task = create(&mut tasks, titled("one")).await;
    tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: task.id.clone(),
            expected_version: 1,
        })
        .await
        .unwrap();
    let cases = [
        (
            "update",
            tasks
                .update_task(proto::UpdateTaskRequest {
                    task: Some(proto::Task {
                        id: task.id.clone(),
                        title: "two".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["title".into()],
                    }),
                    expected_version: 1,
                })
                .await
                .map(|_| ()),
        ),
        (
            "reopen",
            tasks
                .reopen_task(proto::ReopenTaskRequest {
                    task_id: task.id.clone(),
                    expected_version: 1,
                })
                .await
                .map(|_| ()),
        ),
        (
            "delete",
            tasks
                .delete_task(proto::DeleteTaskRequest {
                    task_id: task.id.clone(),
                    expected_version: 1,
                })
                .await
                .map(|_| ()),
        ),
    ];
    for (case, outcome) in cases {
        assert_eq!(outcome.unwrap_err().code(), Code::Aborted, "case {case}");
    }
    let stored = tasks
        .get_task(proto::GetTaskRequest { task_id: task.id })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!((stored.title.as_str(), stored.version), ("one", 2));
}

#[tokio::test]
async fn a_create_with_a_seen_request_id_returns_the_existing_task() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let request = proto::CreateTaskRequest {
        request_id: "req-1".into(),
        ..titled("once")
    };
    let first = create(&mut tasks, request.clone()).await;
    let retry = create(
        &mut tasks,
        proto::CreateTaskRequest {
            title: "changed".into(),
            ..request
        },
    )
    .await;
    assert_eq!(
        retry, first,
        "the retry returns the task the first request created"
    );
    let list = tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_size, 1);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_told_apart() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let unknown = tasks
        .get_task(proto::GetTaskRequest {
            task_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = tasks
        .get_task(proto::GetTaskRequest {
            task_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(
        todo_proto::status::field_violations(&malformed)[0].0,
        "task_id"
    );
}

#[tokio::test]
async fn a_user_whose_tasks_fill_their_storage_gets_resource_exhausted_and_can_still_list() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    // 4,000 four-byte characters: 16 KB a task, so one bucket fills after about 15 tasks.
    let heavy = || proto::CreateTaskRequest {
        description: "😀".repeat(4000),
        ..titled("heavy")
    };
    let mut created = 0;
    let refused = loop {
        match tasks.create_task(heavy()).await {
            Ok(_) => created += 1,
            Err(status) => break status,
        }
        assert!(
            created < 400,
            "no storage limit after {created} heavy tasks"
        );
    };
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let listed = tasks
        .list_tasks(proto::ListTasksRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("listing stays within the sidecar's message size");
    assert_eq!(listed.into_inner().total_size, created);
}
