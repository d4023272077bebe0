//! `spawn_app`: localdapr with the suite's components; todo-api, recurring and the gateway
//! behind their sidecars (their `testsuite` features); an app recording every `task-events`
//! event, and a client sidecar that publishes like any app. Helpers act for a signed-up user
//! through the gateway and wait for occurrences.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use dapr_kit::{
    AppCallbackService, DaprClient, JobHandlers, Publication, Subscription, Subscriptions,
    TopicEvent,
};
use gateway::testsuite::{Authorized, TestGateway, authorized};
use localdapr::testsuite::{ServedApp, TestDapr, wait_until};
use todo_core::wire_time::{timestamp_to_utc, utc_to_timestamp};
use todo_proto::todo::v1::{
    self as proto, Task, TaskEvent, TaskEventType, auth_service_client::AuthServiceClient,
    task_service_client::TaskServiceClient,
};
use tonic::transport::Channel;

/// The zone the tests' tasks are due in.
pub const BERLIN: Tz = chrono_tz::Europe::Berlin;
/// How long an occurrence may take to appear.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// TaskService through the gateway, as a signed-in user.
pub type Tasks = TaskServiceClient<Authorized>;

/// Every event published on `task-events`, as a subscriber of its own received it.
pub type Recorded = Arc<Mutex<Vec<TaskEvent>>>;

/// The running suite.
pub struct TestApp {
    channel: Channel,
    /// Declared before the services and the runtime, so it stops first.
    _gateway: TestGateway,
    _recurring: ServedApp,
    _todo_api: ServedApp,
    /// Events on `task-events`.
    pub recorded: Recorded,
    /// A sidecar the test publishes through, as another app would.
    pub publisher: DaprClient,
    pub dapr: TestDapr,
}

/// A signed-up user.
pub struct User {
    pub id: String,
    pub tasks: Tasks,
}

/// Starts the suite and waits until every app serves.
pub async fn spawn_app() -> TestApp {
    let dapr = TestDapr::start_suite().await;
    let todo_api = todo_api::testsuite::spawn(&dapr).await;
    let recurring = recurring::testsuite::spawn(&dapr).await;
    let gateway = gateway::testsuite::spawn(&dapr).await;
    let recorded = record_task_events(&dapr).await;
    let publisher = dapr.client("event-publisher").await.client;
    let channel = Channel::from_shared(format!("http://{}", gateway.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        channel,
        _gateway: gateway,
        _recurring: recurring,
        _todo_api: todo_api,
        recorded,
        publisher,
        dapr,
    }
}

async fn record_task_events(dapr: &TestDapr) -> Recorded {
    let recorded = Recorded::default();
    let sink = recorded.clone();
    let on_event = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.json::<TaskEvent>()?);
            Ok(())
        }
    };
    let subscriptions = Subscriptions::new()
        .subscribe(Subscription::new("pubsub", "task-events").default_route(on_event));
    dapr.app(
        "event-recorder",
        AppCallbackService::new(subscriptions, JobHandlers::new()),
    )
    .await;
    recorded
}

impl TestApp {
    /// Signs up a fresh user through the gateway.
    pub async fn new_user(&self) -> User {
        let response = AuthServiceClient::new(self.channel.clone())
            .sign_up(proto::SignUpRequest {
                email: format!("user-{}@example.com", uuid::Uuid::new_v4()),
                password: "correct horse battery".into(),
                display_name: "Test User".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let token = response.tokens.unwrap().access_token;

        User {
            id: response.user.unwrap().id,
            tasks: TaskServiceClient::new(authorized(self.channel.clone(), &token)),
        }
    }

    /// The event of `task_id` that reached `version`, once it was published.
    pub async fn event_of(&self, task_id: &str, version: i64) -> TaskEvent {
        let find = || {
            self.recorded
                .lock()
                .unwrap()
                .iter()
                .find(|e| e.task_id == task_id && e.version == version)
                .cloned()
        };
        wait_until(
            &format!("the event of {task_id} at version {version} is published"),
            DEADLINE,
            || async { find().is_some() },
        )
        .await;
        find().unwrap()
    }

    /// Publishes `event` on `task-events` again, ordered with `task_id`'s events as the outbox
    /// orders them (partition key = task id).
    pub async fn publish(&self, event: &TaskEvent) {
        let publication = Publication::message("task-events", event)
            .unwrap()
            .partition_key(&event.task_id);
        self.publisher.publish("pubsub", publication).await.unwrap();
    }

    /// Waits until recurring has handled every event published so far with partition key
    /// `task_id`. Deliveries of one key are in order (reference §4.3, like Kafka's partitions),
    /// so it publishes a completion of a fresh daily task of `user` under that key and waits
    /// for that task's next occurrence: then everything before it was handled too.
    pub async fn barrier(&self, user: &mut User, task_id: &str) {
        let marker = create(
            &mut user.tasks,
            recurring_request("barrier", "FREQ=DAILY", tomorrow_at(9, 0)),
        )
        .await;
        let now = utc_to_timestamp(Utc::now());
        let completed = Task {
            status: proto::TaskStatus::Completed as i32,
            complete_time: Some(now),
            version: marker.version + 1,
            ..marker.clone()
        };
        let event = TaskEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            r#type: TaskEventType::Completed as i32,
            user_id: user.id.clone(),
            task_id: marker.id.clone(),
            version: completed.version,
            occur_time: Some(now),
            task: Some(completed),
            previous: Some(marker.clone()),
            ..TaskEvent::default()
        };
        let publication = Publication::message("task-events", &event)
            .unwrap()
            .partition_key(task_id);
        self.publisher.publish("pubsub", publication).await.unwrap();
        occurrence(user, &marker.id, 1).await;
    }
}

/// A recurring task request: `rrule`, due at `due` in Berlin, from the due date.
pub fn recurring_request(title: &str, rrule: &str, due: DateTime<Utc>) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        title: title.into(),
        description: "every time".into(),
        priority: proto::Priority::High as i32,
        tags: vec!["home".into()],
        due_time: Some(utc_to_timestamp(due)),
        time_zone: BERLIN.to_string(),
        recurrence: Some(proto::Recurrence {
            rule: Some(proto::recurrence::Rule::Rrule(rrule.into())),
            anchor: proto::RecurrenceAnchor::DueDate as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates a task and returns it.
pub async fn create(tasks: &mut Tasks, request: proto::CreateTaskRequest) -> Task {
    tasks
        .create_task(request)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

/// Completes a task and returns it.
pub async fn complete(tasks: &mut Tasks, task: &Task) -> Task {
    tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: task.id.clone(),
            expected_version: task.version,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

/// Reopens a task and returns it.
pub async fn reopen(tasks: &mut Tasks, task: &Task) -> Task {
    tasks
        .reopen_task(proto::ReopenTaskRequest {
            task_id: task.id.clone(),
            expected_version: task.version,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

/// Every task of the series that `first` started, by occurrence index.
pub async fn series(user: &mut User, first: &str) -> Vec<Task> {
    let mut tasks: Vec<Task> = user
        .tasks
        .list_tasks(proto::ListTasksRequest {
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tasks
        .into_iter()
        .filter(|task| task.id == first || task.series_id == first)
        .collect();
    tasks.sort_by_key(|task| task.occurrence_index);
    tasks
}

/// Waits for occurrence `index` of the series `first` started, and returns it.
pub async fn occurrence(user: &mut User, first: &str, index: u32) -> Task {
    let found = Arc::new(Mutex::new(None));
    wait_until(
        &format!("occurrence {index} of series {first} exists"),
        DEADLINE,
        || {
            let mut tasks = user.tasks.clone();
            let found = found.clone();
            async move {
                let listed = tasks
                    .list_tasks(proto::ListTasksRequest {
                        page_size: 200,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .tasks;
                let task = listed
                    .into_iter()
                    .find(|t| t.series_id == first && t.occurrence_index == index);
                let exists = task.is_some();
                *found.lock().unwrap() = task;
                exists
            }
        },
    )
    .await;
    found.lock().unwrap().take().unwrap()
}

/// The due time of a task.
pub fn due_of(task: &Task) -> DateTime<Utc> {
    timestamp_to_utc(task.due_time.as_ref().unwrap()).unwrap()
}

/// `date` at `hour:minute` in Berlin (never a DST gap or overlap at the hours the tests use).
pub fn berlin(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
    BERLIN
        .from_local_datetime(&date.and_time(time))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Today's date in Berlin.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&BERLIN).date_naive()
}

/// Tomorrow (in Berlin) at `hour:minute` Berlin time.
pub fn tomorrow_at(hour: u32, minute: u32) -> DateTime<Utc> {
    berlin(today() + Days::days(1), hour, minute)
}

/// The first date on or after `from` that is the `nth` (1-based, or -1 for the last) `weekday`
/// of its month.
pub fn nth_weekday_on_or_after(from: NaiveDate, weekday: chrono::Weekday, nth: i8) -> NaiveDate {
    let mut month = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap();
    loop {
        let candidate = nth_weekday_of_month(month, weekday, nth);
        if candidate >= from {
            return candidate;
        }
        month = month + chrono::Months::new(1);
    }
}

/// The `nth` (1-based, or -1 for last) `weekday` of the month of `first_of_month`.
pub fn nth_weekday_of_month(
    first_of_month: NaiveDate,
    weekday: chrono::Weekday,
    nth: i8,
) -> NaiveDate {
    let days: Vec<NaiveDate> = first_of_month
        .iter_days()
        .take_while(|d| d.month() == first_of_month.month())
        .filter(|d| d.weekday() == weekday)
        .collect();
    if nth < 0 {
        *days.last().unwrap()
    } else {
        days[usize::try_from(nth - 1).unwrap()]
    }
}
