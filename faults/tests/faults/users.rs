//! Users of the suite, calling the gateway as clients do (gRPC, a bearer token), with the
//! retries a client makes while the suite restarts: each call here is idempotent (a create
//! names its `request_id`; completing a completed task is FailedPrecondition), so a retry
//! after an answer that got lost changes nothing.

use std::time::Duration;

use chrono::Utc;
use todo_proto::todo::v1::{
    CompleteTaskRequest, CreateTaskRequest, ListNotificationsRequest, ListTasksRequest,
    Notification, SignUpRequest, Task, auth_service_client::AuthServiceClient,
    notification_service_client::NotificationServiceClient, task_service_client::TaskServiceClient,
};
use tokio::time::Instant;
use tonic::{Code, Request, Status, transport::Channel};

/// How long one call keeps being retried while the suite is down or restarting.
const RETRY_DEADLINE: Duration = Duration::from_secs(90);
/// The pause between two attempts of a call.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct User {
    /// The user's id.
    pub id: String,
    token: String,
    gateway: Channel,
}

impl User {
    /// Signs up `email` through the gateway.
    pub async fn sign_up(gateway: Channel, email: &str) -> Self {
        let signed_up = AuthServiceClient::new(gateway.clone())
            .sign_up(SignUpRequest {
                email: email.into(),
                password: "correct horse battery staple".into(),
                display_name: email.into(),
            })
            .await
            .unwrap_or_else(|status| panic!("SignUp of {email}: {status:?}"))
            .into_inner();
        Self {
            id: signed_up.user.unwrap().id,
            token: signed_up.tokens.unwrap().access_token,
            gateway,
        }
    }

    /// Creates the task `request` makes (each attempt makes it afresh, so a reminder time
    /// stays ahead), retrying until it is created; its `request_id` makes it once.
    pub async fn create(&self, request: impl Fn() -> CreateTaskRequest) -> Task {
        self.retry("CreateTask", |mut tasks, user| {
            let request = request();
            assert!(
                !request.request_id.is_empty(),
                "a retried create needs a request id"
            );
            let request = user.authorized(request);
            async move { tasks.create_task(request).await }
        })
        .await
        .into_inner()
        .task
        .unwrap()
    }

    /// Creates a task once, with no retry.
    pub async fn create_once(&self, request: CreateTaskRequest) -> Result<Task, Status> {
        Ok(self
            .tasks()
            .create_task(self.authorized(request))
            .await?
            .into_inner()
            .task
            .unwrap_or_default())
    }

    /// Completes a task, retrying until it is completed (by this call or an earlier one).
    pub async fn complete(&self, task_id: &str) {
        let request = CompleteTaskRequest {
            task_id: task_id.into(),
            expected_version: 0,
        };
        self.retry("CompleteTask", |mut tasks, user| {
            let request = user.authorized(request.clone());
            async move {
                match tasks.complete_task(request).await {
                    // An attempt whose answer got lost completed it already.
                    Err(status) if status.code() == Code::FailedPrecondition => Ok(None),
                    other => other.map(Some),
                }
            }
        })
        .await;
    }

    /// Every task of the user.
    pub async fn all_tasks(&self) -> Vec<Task> {
        let mut tasks = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListTasksRequest {
                page_size: 200,
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = self
                .retry("ListTasks", |mut client, user| {
                    let request = user.authorized(request.clone());
                    async move { client.list_tasks(request).await }
                })
                .await
                .into_inner();
            tasks.extend(page.tasks);
            if page.next_page_token.is_empty() {
                return tasks;
            }
            page_token = page.next_page_token;
        }
    }

    /// The user's notifications (up to 200, which the tests stay under).
    pub async fn notifications(&self) -> Vec<Notification> {
        let request = self.authorized(ListNotificationsRequest {
            page_size: 200,
            ..Default::default()
        });
        NotificationServiceClient::new(self.gateway.clone())
            .list_notifications(request)
            .await
            .unwrap_or_else(|status| panic!("ListNotifications: {status:?}"))
            .into_inner()
            .notifications
    }

    fn tasks(&self) -> TaskServiceClient<Channel> {
        TaskServiceClient::new(self.gateway.clone())
    }

    /// `message` with the user's bearer token.
    pub fn authorized<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        request
    }

    /// Calls `call` until it answers, while the suite may be down: Unavailable, Unknown,
    /// Cancelled, DeadlineExceeded and Internal are what a stopping or starting suite
    /// answers; any other status fails the test.
    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> T
    where
        F: FnMut(TaskServiceClient<Channel>, &Self) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        loop {
            match call(self.tasks(), self).await {
                Ok(answer) => return answer,
                Err(status)
                    if matches!(
                        status.code(),
                        Code::Unavailable
                            | Code::Unknown
                            | Code::Cancelled
                            | Code::DeadlineExceeded
                            | Code::Internal
                    ) =>
                {
                    assert!(
                        started.elapsed() < RETRY_DEADLINE,
                        "{what} kept failing for {RETRY_DEADLINE:?}: {status:?}"
                    );
                    tokio::time::sleep(RETRY_DELAY).await;
                }
                Err(status) => panic!("{what}: {status:?}"),
            }
        }
    }
}

/// The time `delay` from now, as a proto timestamp.
pub fn timestamp_in(delay: Duration) -> prost_types::Timestamp {
    let at = Utc::now() + delay;
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap(),
    }
}
