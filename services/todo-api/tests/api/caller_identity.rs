//! The attacks on caller identity that once worked, now refused: a local process calling
//! todo-api's port with forged `dapr-caller-app-id: gateway` and `todo-user-id: <victim>`
//! (ListTasks, UpdateTask, a `series_id` create as recurring), an app forging the gateway's id
//! through its own sidecar, and a process without a sidecar's token proxying through it.

use std::net::SocketAddr;

use dapr_kit::caller::{CALLER_APP_ID_HEADER, USER_ID_HEADER};
use todo_proto::todo::v1::{self as proto, task_service_client::TaskServiceClient};
use tonic::{Code, Request, transport::Channel};

use crate::test_app::{TestApp, create, new_user, spawn_app, titled};

/// Where todo-api listens, as its sidecar knows it.
fn todo_api_address(app: &TestApp) -> SocketAddr {
    app.todo_api.address
}

/// `message` with the headers a forger sends, and `token` as `dapr-api-token` if any.
fn forged<T>(message: T, app_id: &str, user: &str, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(CALLER_APP_ID_HEADER, app_id.parse().unwrap());
    metadata.insert(USER_ID_HEADER, user.parse().unwrap());
    if let Some(token) = token {
        metadata.insert("dapr-api-token", token.parse().unwrap());
    }
    request
}

fn rename(task_id: &str) -> proto::UpdateTaskRequest {
    proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: task_id.into(),
            title: "pwned".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        expected_version: 0,
    }
}

#[tokio::test]
async fn forged_identity_headers_on_todo_apis_own_port_are_unauthenticated() {
    let app = spawn_app().await;
    let victim = new_user();
    let task = create(&mut app.tasks_for(&victim), titled("victim's")).await;
    let channel = Channel::from_shared(format!("http://{}", todo_api_address(&app)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut direct = TaskServiceClient::new(channel);
    let series = proto::CreateTaskRequest {
        series_id: uuid::Uuid::new_v4().to_string(),
        occurrence_index: 1,
        ..titled("forged occurrence")
    };

    for (case, token) in [("no token", None), ("wrong token", Some("guessed"))] {
        let listed = direct
            .list_tasks(forged(
                proto::ListTasksRequest::default(),
                "gateway",
                &victim,
                token,
            ))
            .await;
        let updated = direct
            .update_task(forged(rename(&task.id), "gateway", &victim, token))
            .await;
        let continued = direct
            .create_task(forged(series.clone(), "recurring", &victim, token))
            .await;
        let outcomes = [
            ("ListTasks as gateway", listed.map(|_| ())),
            ("UpdateTask as gateway", updated.map(|_| ())),
            ("series CreateTask as recurring", continued.map(|_| ())),
        ];
        for (attack, outcome) in outcomes {
            assert_eq!(
                outcome.unwrap_err().code(),
                Code::Unauthenticated,
                "{attack}, {case}"
            );
        }
    }

    let listed = app
        .tasks_for(&victim)
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.tasks,
        [task],
        "the victim's tasks are untouched and nothing was added"
    );
}

#[tokio::test]
async fn an_app_cannot_pass_itself_off_as_the_gateway_through_its_sidecar() {
    let app = spawn_app().await;
    let victim = new_user();
    create(&mut app.tasks_for(&victim), titled("victim's")).await;
    let mut as_audit = app.tasks_from_app("audit", None).await;
    let mut request = forged(proto::ListTasksRequest::default(), "gateway", &victim, None);
    // Another value of the header, beside the one the sidecar writes.
    request
        .metadata_mut()
        .append(CALLER_APP_ID_HEADER, "recurring".parse().unwrap());
    let refused = as_audit.list_tasks(request).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "the sidecar names the real caller: {refused:?}"
    );
}

#[tokio::test]
async fn a_process_without_a_sidecars_token_cannot_proxy_through_it() {
    let app = spawn_app().await;
    let victim = new_user();
    create(&mut app.tasks_for(&victim), titled("victim's")).await;
    let gateway = app.dapr.client("gateway").await;
    let channel = Channel::from_shared(format!("http://{}", gateway.sidecar_address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut through_sidecar = TaskServiceClient::new(channel);
    for (case, token) in [("no token", None), ("wrong token", Some("guessed"))] {
        let mut request = forged(
            proto::ListTasksRequest::default(),
            "gateway",
            &victim,
            token,
        );
        request
            .metadata_mut()
            .insert("dapr-app-id", "todo-api".parse().unwrap());
        let refused = through_sidecar.list_tasks(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "case: {case}");
    }
}
