//! gRPC-web over a plain HTTP/1.1 connection, as a browser sends it: sign in, create and list
//! tasks, an error with its `grpc-status`, and a deadline that expires.

use prost::Message;
use todo_proto::todo::v1 as proto;

use crate::{grpc_web_client, test_app::spawn_app};

#[tokio::test]
async fn a_browser_signs_in_creates_and_lists_tasks_over_grpc_web() {
    let app = spawn_app().await;
    let ada = app.new_user().await;

    let signed_in = grpc_web_client::call(
        app.address,
        "/todo.v1.AuthService/SignIn",
        proto::SignInRequest {
            email: ada.email.clone(),
            password: ada.password.clone(),
        }
        .encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(signed_in.http_status, 200, "{signed_in:?}");
    assert_eq!(
        signed_in.header("content-type"),
        Some("application/grpc-web+proto")
    );
    assert_eq!(signed_in.grpc_status(), Some("0"), "{signed_in:?}");
    let signed_in: proto::SignInResponse = signed_in.message();
    assert_eq!(signed_in.user.unwrap().id, ada.user.id);
    let bearer = format!("Bearer {}", signed_in.tokens.unwrap().access_token);

    let created = grpc_web_client::call(
        app.address,
        "/todo.v1.TaskService/CreateTask",
        proto::CreateTaskRequest {
            title: "from the browser".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(created.grpc_status(), Some("0"), "{created:?}");
    let created = created.message::<proto::CreateTaskResponse>().task.unwrap();
    assert_eq!(created.title, "from the browser");

    let listed = grpc_web_client::call(
        app.address,
        "/todo.v1.TaskService/ListTasks",
        proto::ListTasksRequest::default().encode_to_vec(),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(listed.grpc_status(), Some("0"), "{listed:?}");
    assert_eq!(
        listed.message::<proto::ListTasksResponse>().tasks,
        [created]
    );
}

#[tokio::test]
async fn grpc_web_errors_carry_their_grpc_status() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bearer = format!("Bearer {}", ada.tokens.access_token);
    let cases = [
        (
            "no token",
            "/todo.v1.TaskService/ListTasks",
            proto::ListTasksRequest::default().encode_to_vec(),
            vec![],
            "16",
        ),
        (
            "unknown task",
            "/todo.v1.TaskService/GetTask",
            proto::GetTaskRequest {
                task_id: uuid::Uuid::new_v4().to_string(),
            }
            .encode_to_vec(),
            vec![("authorization", bearer.as_str())],
            "5",
        ),
        (
            "the client's deadline passes in the service",
            "/todo.v1.AuditService/ListTaskHistory",
            proto::ListTaskHistoryRequest {
                task_id: "slow".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            vec![("authorization", bearer.as_str()), ("grpc-timeout", "300m")],
            "4",
        ),
    ];
    for (case, path, message, headers, status) in cases {
        let answer = grpc_web_client::call(app.address, path, message, &headers).await;
        assert_eq!(answer.http_status, 200, "case: {case}: {answer:?}");
        assert_eq!(
            answer.grpc_status(),
            Some(status),
            "case: {case}: {answer:?}"
        );
        assert!(answer.messages.is_empty(), "case: {case}");
        assert!(answer.grpc_message().is_some(), "case: {case}: {answer:?}");
    }
}
