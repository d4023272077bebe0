//! A bucket that no longer decodes (someone SaveState'd garbage into `tasks-<user>-<b>`): the
//! user's other tasks stay readable and writable, and every operation on a task in that bucket
//! is refused with FailedPrecondition, leaving its bytes as they were.

use todo_core::{
    ids::{TaskId, UserId},
    limits::bucket_key_for_task,
};
use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::test_app::{Tasks, create, new_user, spawn_app, titled};

const STORE: &str = "statestore";
const GARBAGE: &[u8] = b"\xff\xff\xff\xff not a TaskBucket";

fn bucket_of(user: &str, task: &proto::Task) -> String {
    bucket_key_for_task(
        &UserId::parse(user).unwrap(),
        &TaskId::parse(&task.id).unwrap(),
    )
}

/// Creates tasks until one lies in another bucket than the first; returns (first, other).
async fn tasks_in_two_buckets(tasks: &mut Tasks, user: &str) -> (proto::Task, proto::Task) {
    let first = create(tasks, titled("in the bucket that breaks")).await;
    for attempt in 0..64 {
        let other = create(tasks, titled(&format!("elsewhere {attempt}"))).await;
        if bucket_of(user, &other) != bucket_of(user, &first) {
            return (first, other);
        }
    }
    panic!("64 tasks all landed in one of 16 buckets");
}

#[tokio::test]
async fn an_unreadable_bucket_hides_only_its_own_tasks_and_refuses_their_changes() {
    let app = spawn_app().await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);
    let (broken, other) = tasks_in_two_buckets(&mut tasks, &user).await;
    let broken_key = bucket_of(&user, &broken);
    let before = tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    app.todo_api_sidecar
        .save_state(STORE, &broken_key, GARBAGE.to_vec(), None)
        .await
        .unwrap();

    // Listing still works, without the broken bucket's tasks.
    let listed = tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .expect("the other buckets stay readable")
        .into_inner();
    let expected: Vec<&str> = before
        .tasks
        .iter()
        .filter(|task| bucket_of(&user, task) != broken_key)
        .map(|task| task.id.as_str())
        .collect();
    let listed_ids: Vec<&str> = listed.tasks.iter().map(|task| task.id.as_str()).collect();
    assert_eq!(listed_ids, expected);
    assert!(listed_ids.contains(&other.id.as_str()));

    // A task elsewhere reads and changes as usual.
    let got = tasks
        .get_task(proto::GetTaskRequest {
            task_id: other.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.task.unwrap().id, other.id);
    tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: other.id.clone(),
            expected_version: other.version,
        })
        .await
        .expect("a task in another bucket can change");

    // Every operation on a task of the broken bucket is refused, and nothing overwrites it.
    let refused = [
        (
            "get",
            tasks
                .get_task(proto::GetTaskRequest {
                    task_id: broken.id.clone(),
                })
                .await
                .map(|_| ()),
        ),
        (
            "update",
            tasks
                .update_task(proto::UpdateTaskRequest {
                    task: Some(proto::Task {
                        id: broken.id.clone(),
                        title: "overwrite".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["title".into()],
                    }),
                    expected_version: 0,
                })
                .await
                .map(|_| ()),
        ),
        (
            "complete",
            tasks
                .complete_task(proto::CompleteTaskRequest {
                    task_id: broken.id.clone(),
                    expected_version: 0,
                })
                .await
                .map(|_| ()),
        ),
        (
            "delete",
            tasks
                .delete_task(proto::DeleteTaskRequest {
                    task_id: broken.id.clone(),
                    expected_version: 0,
                })
                .await
                .map(|_| ()),
        ),
    ];
    for (case, outcome) in refused {
        let status = outcome.expect_err(case);
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "case {case}: {status:?}"
        );
        assert!(
            status.message().contains("needs repair"),
            "case {case}: {status:?}"
        );
    }
    let stored = app
        .todo_api_sidecar
        .get_state(STORE, &broken_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.value, GARBAGE,
        "the broken bucket is left for repair"
    );
}

#[tokio::test]
async fn deleting_the_unreadable_bucket_makes_the_rest_of_the_list_whole_again() {
    // The README's last-resort recovery: delete the key; the bucket's tasks are gone, the
    // others stay, and new tasks can land in that bucket again.
    let app = spawn_app().await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);
    let (broken, other) = tasks_in_two_buckets(&mut tasks, &user).await;
    let broken_key = bucket_of(&user, &broken);
    app.todo_api_sidecar
        .save_state(STORE, &broken_key, GARBAGE.to_vec(), None)
        .await
        .unwrap();

    app.todo_api_sidecar
        .delete_state(STORE, &broken_key, None)
        .await
        .unwrap();

    let status = tasks
        .get_task(proto::GetTaskRequest {
            task_id: broken.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tasks.iter().any(|task| task.id == other.id));
}
