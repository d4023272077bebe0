//! Task history end to end: users sign up and change tasks through the real gateway, todo-api
//! publishes through the outbox, audit records, and each user reads history through the
//! gateway — their own only. Calls that bypass the gateway are refused.

use std::time::Duration;

use audit::testsuite::TestDatabase;
use gateway::testsuite::{Authorized, authorized};
use localdapr::testsuite::{TestDapr, wait_until};
use todo_proto::todo::v1::{
    self as proto, TaskEventType, audit_service_client::AuditServiceClient,
    auth_service_client::AuthServiceClient, task_service_client::TaskServiceClient,
};
use tonic::{Code, Request, transport::Channel};

/// A signed-up user's clients of the gateway.
struct User {
    id: String,
    tasks: TaskServiceClient<Authorized>,
    audit: AuditServiceClient<Authorized>,
}

async fn sign_up(gateway: &Channel) -> User {
    let signed_up = AuthServiceClient::new(gateway.clone())
        .sign_up(proto::SignUpRequest {
            email: format!("user-{}@example.com", uuid::Uuid::new_v4()),
            password: "correct horse battery".into(),
            display_name: "Test User".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let channel = authorized(gateway.clone(), &signed_up.tokens.unwrap().access_token);
    User {
        id: signed_up.user.unwrap().id,
        tasks: TaskServiceClient::new(channel.clone()),
        audit: AuditServiceClient::new(channel),
    }
}

fn history_of(task_id: &str, page_size: i32, page_token: &str) -> proto::ListTaskHistoryRequest {
    proto::ListTaskHistoryRequest {
        task_id: task_id.into(),
        page_size,
        page_token: page_token.into(),
    }
}

/// Waits until `user` sees `entries` entries of the task's history.
async fn wait_for_history(user: &User, task_id: &str, entries: usize) {
    wait_until(
        &format!("the history holds {entries} entries"),
        Duration::from_secs(20),
        || {
            let mut audit = user.audit.clone();
            async move {
                audit
                    .list_task_history(history_of(task_id, 0, ""))
                    .await
                    .is_ok_and(|page| page.into_inner().entries.len() >= entries)
            }
        },
    )
    .await;
}

/// Creates, renames and completes a task of `user`; returns its id.
async fn change_a_task(user: &mut User) -> String {
    let task = user
        .tasks
        .create_task(proto::CreateTaskRequest {
            title: "buy milk".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    user.tasks
        .update_task(proto::UpdateTaskRequest {
            task: Some(proto::Task {
                id: task.id.clone(),
                title: "buy oat milk".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            expected_version: 1,
        })
        .await
        .unwrap();
    user.tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: task.id.clone(),
            expected_version: 2,
        })
        .await
        .unwrap();
    task.id
}

struct Suite {
    gateway: Channel,
    dapr: TestDapr,
    _apps: Vec<localdapr::testsuite::ServedApp>,
    _gateway: gateway::testsuite::TestGateway,
    _database: TestDatabase,
}

async fn start_suite() -> Suite {
    let database = TestDatabase::sqlite();
    let dapr = database.start_suite().await;
    let todo_api = todo_api::testsuite::spawn(&dapr).await;
    let audit = audit::testsuite::spawn(&dapr).await;
    let gateway_app = gateway::testsuite::spawn(&dapr).await;
    let gateway = Channel::from_shared(format!("http://{}", gateway_app.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Suite {
        gateway,
        dapr,
        _apps: vec![todo_api, audit],
        _gateway: gateway_app,
        _database: database,
    }
}

#[tokio::test]
async fn an_owner_reads_a_tasks_history_through_the_gateway_and_nobody_else_does() {
    let suite = start_suite().await;
    let mut ada = sign_up(&suite.gateway).await;
    let mut bob = sign_up(&suite.gateway).await;
    let task_id = change_a_task(&mut ada).await;
    wait_for_history(&ada, &task_id, 3).await;

    let history = ada
        .audit
        .list_task_history(history_of(&task_id, 0, ""))
        .await
        .unwrap()
        .into_inner();
    let summary: Vec<_> = history
        .entries
        .iter()
        .map(|entry| (entry.r#type(), entry.version))
        .collect();
    assert_eq!(
        summary,
        [
            (TaskEventType::Created, 1),
            (TaskEventType::Updated, 2),
            (TaskEventType::Completed, 3),
        ]
    );
    let changes = |index: usize| -> Vec<(String, String, String)> {
        history.entries[index]
            .changes
            .iter()
            .map(|c| (c.field.clone(), c.before_json.clone(), c.after_json.clone()))
            .collect()
    };
    assert_eq!(
        changes(1),
        [(
            "title".into(),
            "\"buy milk\"".into(),
            "\"buy oat milk\"".into()
        )]
    );
    assert_eq!(
        changes(2),
        [(
            "status".into(),
            "\"TASK_STATUS_OPEN\"".into(),
            "\"TASK_STATUS_COMPLETED\"".into()
        )]
    );
    let actor = history.entries[0].actor.clone().unwrap();
    assert_eq!(
        (actor.kind(), actor.id.as_str()),
        (proto::ActorKind::User, ada.id.as_str())
    );

    // Paged: 2, then the last 1.
    let first = ada
        .audit
        .list_task_history(history_of(&task_id, 2, ""))
        .await
        .unwrap()
        .into_inner();
    let second = ada
        .audit
        .list_task_history(history_of(&task_id, 2, &first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.entries.len(), second.entries.len()), (2, 1));
    assert_eq!(second.next_page_token, "");
    assert_eq!(second.entries[0].version, 3);

    // Bob: not found, exactly as for a task that does not exist; ada's page token is refused.
    let cases = [
        (
            "another user's task",
            history_of(&task_id, 0, ""),
            Code::NotFound,
        ),
        (
            "a task that does not exist",
            history_of(&uuid::Uuid::new_v4().to_string(), 0, ""),
            Code::NotFound,
        ),
        (
            "another user's page token",
            history_of(&task_id, 2, &first.next_page_token),
            Code::InvalidArgument,
        ),
        (
            "not a task id",
            history_of("../etc", 0, ""),
            Code::InvalidArgument,
        ),
        (
            "page too large",
            history_of(&task_id, 201, ""),
            Code::InvalidArgument,
        ),
    ];
    for (case, request, code) in cases {
        let refused = bob.audit.list_task_history(request).await.unwrap_err();
        assert_eq!(refused.code(), code, "case: {case}: {refused:?}");
    }
    let own_task = change_a_task(&mut bob).await;
    wait_for_history(&bob, &own_task, 3).await;
}

#[tokio::test]
async fn calls_that_bypass_the_gateway_cannot_act_for_a_user() {
    let suite = start_suite().await;
    let mut ada = sign_up(&suite.gateway).await;
    let task_id = change_a_task(&mut ada).await;
    wait_for_history(&ada, &task_id, 3).await;

    let intruder = suite.dapr.client("intruder").await.client;
    let channel = intruder.app_channel_for_user("audit", &ada.id).unwrap();
    let refused = AuditServiceClient::new(channel)
        .list_task_history(history_of(&task_id, 0, ""))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let audit_port = suite._apps[1].channel();
    let mut direct = AuditServiceClient::new(audit_port);
    let mut request = Request::new(history_of(&task_id, 0, ""));
    request
        .metadata_mut()
        .insert("dapr-caller-app-id", "gateway".parse().unwrap());
    request
        .metadata_mut()
        .insert("todo-user-id", ada.id.parse().unwrap());
    let refused = direct.list_task_history(request).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "no app token: {refused:?}"
    );
}
