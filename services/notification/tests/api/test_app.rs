//! `spawn_app`: the suite as users reach it — localdapr, todo-api, notification, the gateway
//! — plus a subscriber of `reminders` that records every `ReminderDue` and when it arrived.
//! [`TestApp::stop`] and [`StoppedApp::start`] stop and restart the whole suite on the same
//! localdapr data directory.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use dapr_kit::{AppCallbackService, JobHandlers, Subscription, Subscriptions, TopicEvent};
use gateway::testsuite::{Authorized, TestGateway, authorized};
use localdapr::{
    AppSpec,
    testsuite::{ServedApp, StoppedDapr, TestDapr, wait_until},
};
use todo_core::wire_time::{timestamp_to_utc, utc_to_timestamp};
use todo_proto::todo::v1::{
    self as proto, auth_service_client::AuthServiceClient,
    notification_service_client::NotificationServiceClient, task_service_client::TaskServiceClient,
};
use tonic::transport::Channel;

/// The app id of the test's subscriber of `reminders`.
pub const LISTENER_APP_ID: &str = "reminder-listener";

/// A `ReminderDue` the subscriber received, and when it arrived.
pub type Arrival = (proto::ReminderDue, DateTime<Utc>);

/// Every `ReminderDue` the subscriber received.
#[derive(Clone, Default)]
pub struct Received(Arc<Mutex<Vec<Arrival>>>);

impl Received {
    /// The events for `task_id`, in arrival order.
    pub fn for_task(&self, task_id: &str) -> Vec<Arrival> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(event, _)| event.task_id == task_id)
            .cloned()
            .collect()
    }

    fn callback(&self) -> AppCallbackService {
        let received = self.clone();
        let reminders =
            Subscription::new("pubsub", "reminders").default_route(move |event: TopicEvent| {
                let received = received.clone();
                async move {
                    let due: proto::ReminderDue = event.json()?;
                    received.0.lock().unwrap().push((due, Utc::now()));
                    Ok(())
                }
            });
        AppCallbackService::new(
            Subscriptions::new().subscribe(reminders),
            JobHandlers::new(),
        )
    }
}

/// The running suite.
pub struct TestApp {
    /// What the subscriber of `reminders` received (across restarts).
    pub received: Received,
    /// notification, for calls that bypass the gateway.
    pub notification: ServedApp,
    channel: Channel,
    gateway: TestGateway,
    todo_api: ServedApp,
    overrides: Vec<(String, String)>,
    pub dapr: TestDapr,
}

/// A suite that was stopped; its localdapr data directory is kept.
pub struct StoppedApp {
    /// What the subscriber of `reminders` received before the stop.
    pub received: Received,
    overrides: Vec<(String, String)>,
    dapr: StoppedDapr,
}

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub access_token: String,
}

/// Starts the suite with notification's default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the suite with `overrides` of notification's environment.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let overrides = overrides
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    start(
        TestDapr::start_suite().await,
        Received::default(),
        overrides,
    )
    .await
}

async fn start(dapr: TestDapr, received: Received, overrides: Vec<(String, String)>) -> TestApp {
    let todo_api = todo_api::testsuite::spawn(&dapr).await;
    let notification_overrides: Vec<(&str, &str)> = overrides
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let notification = notification::testsuite::spawn_with(
        &dapr,
        AppSpec::new(notification::testsuite::APP_ID, None),
        &notification_overrides,
    )
    .await;
    dapr.app(LISTENER_APP_ID, received.callback()).await;
    let gateway = gateway::testsuite::spawn(&dapr).await;
    let channel = Channel::from_shared(format!("http://{}", gateway.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        received,
        notification,
        channel,
        gateway,
        todo_api,
        overrides,
        dapr,
    }
}

impl TestApp {
    /// Stops the apps as SIGTERM would, then localdapr, keeping its data directory.
    pub async fn stop(self) -> StoppedApp {
        let Self {
            received,
            notification,
            gateway,
            todo_api,
            overrides,
            dapr,
            ..
        } = self;
        gateway.app.stop().await;
        notification.stop().await;
        todo_api.stop().await;
        StoppedApp {
            received,
            overrides,
            dapr: dapr.stop().await,
        }
    }

    /// A channel that presents `access_token`.
    fn authorized(&self, access_token: &str) -> Authorized {
        authorized(self.channel.clone(), access_token)
    }

    /// TaskService for `user`, through the gateway.
    pub fn tasks(&self, user: &TestUser) -> TaskServiceClient<Authorized> {
        TaskServiceClient::new(self.authorized(&user.access_token))
    }

    /// NotificationService for `user`, through the gateway.
    pub fn notifications(&self, user: &TestUser) -> NotificationServiceClient<Authorized> {
        NotificationServiceClient::new(self.authorized(&user.access_token))
    }

    /// The body of `GET path` on notification's admin port (`/metrics`, `/readyz`).
    pub async fn admin_get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let (address, path) = (self.notification.admin_address, path.to_string());
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap()
    }

    /// Signs up a fresh user.
    pub async fn new_user(&self) -> TestUser {
        let response = AuthServiceClient::new(self.channel.clone())
            .sign_up(proto::SignUpRequest {
                email: format!("user-{}@example.com", uuid::Uuid::new_v4()),
                password: "correct horse battery".into(),
                display_name: "Test User".into(),
            })
            .await
            .unwrap()
            .into_inner();
        TestUser {
            id: response.user.unwrap().id,
            access_token: response.tokens.unwrap().access_token,
        }
    }

    /// Creates a task for `user` titled `title`, reminding at `at`.
    pub async fn task_reminding_at(
        &self,
        user: &TestUser,
        title: &str,
        at: DateTime<Utc>,
    ) -> proto::Task {
        self.tasks(user)
            .create_task(proto::CreateTaskRequest {
                title: title.into(),
                reminder: Some(remind_at(at)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .task
            .unwrap()
    }

    /// `user`'s whole notification list (one page of up to 200).
    pub async fn list(&self, user: &TestUser) -> proto::ListNotificationsResponse {
        self.notifications(user)
            .list_notifications(proto::ListNotificationsRequest {
                page_size: 200,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits until `user` has a notification for `task_id` and the subscriber has its event,
    /// failing if either is missing at `deadline`; returns both.
    pub async fn wait_for_reminder(
        &self,
        user: &TestUser,
        task_id: &str,
        deadline: DateTime<Utc>,
    ) -> (proto::Notification, proto::ReminderDue, DateTime<Utc>) {
        let wait = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        wait_until(
            &format!("the reminder of {task_id} is listed and published"),
            wait,
            || async {
                let listed = self.list(user).await.notifications;
                listed.iter().any(|n| n.task_id == task_id)
                    && !self.received.for_task(task_id).is_empty()
            },
        )
        .await;
        let notification = self
            .list(user)
            .await
            .notifications
            .into_iter()
            .find(|n| n.task_id == task_id)
            .unwrap();
        let (event, arrived) = self.received.for_task(task_id).remove(0);
        (notification, event, arrived)
    }
}

impl StoppedApp {
    /// Starts localdapr on the same data directory, then the apps again.
    pub async fn start(self) -> TestApp {
        start(self.dapr.start().await, self.received, self.overrides).await
    }
}

/// A reminder at `at`.
pub fn remind_at(at: DateTime<Utc>) -> proto::Reminder {
    proto::Reminder {
        trigger: Some(proto::reminder::Trigger::RemindTime(utc_to_timestamp(at))),
    }
}

/// The time a wire timestamp holds.
pub fn utc(timestamp: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    timestamp_to_utc(timestamp.unwrap()).unwrap()
}

/// `seconds` from now.
pub fn in_seconds(seconds: f64) -> DateTime<Utc> {
    Utc::now() + TimeDelta::milliseconds((seconds * 1000.0) as i64)
}
