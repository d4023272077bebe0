//! `audit-ingest`: how fast audit records task events, into SQLite (the local default) and into
//! PostgreSQL (when `--postgres-url` or `TODO_TEST_POSTGRES_URL` gives one). `events`
//! distinct `task.updated` events of real tasks are delivered straight to audit's app port as
//! its sidecar delivers them (AppCallback `OnTopicEvent`, with the app token), `concurrency` at
//! a time; each answer SUCCESS means the row is committed. The run then checks through the
//! gateway's AuditService that every event is in the tasks' histories. The baseline is the bare
//! tonic unary server at the same concurrency.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use todo_proto::{
    dapr::proto::runtime::v1::{
        TopicEventRequest, app_callback_client::AppCallbackClient,
        topic_event_response::TopicEventResponseStatus,
    },
    todo::v1::{
        self as proto, audit_service_client::AuditServiceClient,
        task_service_client::TaskServiceClient,
    },
};
use tokio::time::Instant;
use tonic::{Request, transport::Channel};

use crate::{
    load::{Echo, LoadShape, Transport, authorized},
    report::Report,
    suite::{Suite, SuiteOptions},
};

/// Tasks the events are spread over.
const TASKS: usize = 20;
/// How long the histories may take to show every event.
const CHECK_DEADLINE: Duration = Duration::from_secs(30);

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Events to deliver.
    #[arg(long, default_value_t = 2000)]
    pub events: usize,
    /// Deliveries in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// A PostgreSQL database to measure on too (default: `TODO_TEST_POSTGRES_URL`).
    #[arg(long, env = "TODO_TEST_POSTGRES_URL")]
    pub postgres_url: Option<String>,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let mut report = Report::new(
        "audit-ingest",
        serde_json::json!({
            "events": options.events,
            "concurrency": options.concurrency,
            "postgres": options.postgres_url.is_some(),
        }),
    );
    let echo = Echo::start().await?;
    let baseline = echo
        .measure(
            Transport::Grpc,
            1,
            LoadShape {
                in_flight: options.concurrency,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(3),
            },
        )
        .await?
        .ops_per_second();
    report.figure("baseline_ops_per_s", baseline);
    let databases = [
        Some(("sqlite", None)),
        options
            .postgres_url
            .as_ref()
            .map(|url| ("postgres", Some(url.clone()))),
    ];
    for (name, url) in databases.into_iter().flatten() {
        let rate = measure(&options, url)
            .await
            .with_context(|| format!("audit ingest into {name}"))?;
        eprintln!("audit-ingest {name}: {rate:.0} events/s");
        report.figure(&format!("{name}_events_per_s"), rate);
        report.figure(&format!("{name}_ratio_to_baseline"), rate / baseline);
    }
    if options.postgres_url.is_none() {
        eprintln!("audit-ingest: no PostgreSQL (set TODO_TEST_POSTGRES_URL): SQLite only");
    }
    Ok(report)
}

/// Events per second into audit's database at `url` (SQLite when `None`).
async fn measure(options: &Options, url: Option<String>) -> anyhow::Result<f64> {
    let suite = Suite::start(&SuiteOptions {
        audit_database_url: url,
        ..SuiteOptions::default()
    })
    .await?;
    let channel = suite.connect().await?;
    let user = suite.new_user(channel.clone()).await?;
    let mut tasks = Vec::with_capacity(TASKS);
    for n in 0..TASKS {
        tasks.push(
            TaskServiceClient::new(channel.clone())
                .create_task(authorized(
                    &user,
                    proto::CreateTaskRequest {
                        title: format!("audited {n}"),
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner()
                .task
                .context("CreateTask answered no task")?,
        );
    }
    let tasks = Arc::new(tasks);
    let audit = Channel::from_shared(format!(
        "http://127.0.0.1:{}",
        suite.port("audit").context("no audit port")?
    ))?
    .connect()
    .await?;
    let token = suite.app_token("audit").context("no audit app token")?;

    let started = Instant::now();
    futures::stream::iter(0..options.events)
        .map(|n| {
            let tasks = Arc::clone(&tasks);
            let mut client = AppCallbackClient::new(audit.clone());
            let token = token.clone();
            async move {
                let task = &tasks[n % tasks.len()];
                let mut request = Request::new(topic_event(task, n)?);
                request.metadata_mut().insert("dapr-api-token", token);
                let answer = client.on_topic_event(request).await?.into_inner();
                anyhow::ensure!(
                    answer.status == TopicEventResponseStatus::Success as i32,
                    "audit answered {:?}",
                    answer.status()
                );
                Ok(())
            }
        })
        .buffer_unordered(options.concurrency)
        .try_collect::<()>()
        .await?;
    let elapsed = started.elapsed();

    let expected = options.events + TASKS;
    let deadline = Instant::now() + CHECK_DEADLINE;
    loop {
        let recorded = history_entries(&channel, &user, &tasks).await?;
        if recorded == expected {
            break;
        }
        anyhow::ensure!(
            recorded < expected && Instant::now() < deadline,
            "the histories hold {recorded} entries, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    suite.stop().await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(options.events as f64 / elapsed.as_secs_f64())
}

/// Event `n`: a distinct update of `task` (its own event id and version), as todo-api's outbox
/// publishes it.
fn topic_event(task: &proto::Task, n: usize) -> anyhow::Result<TopicEventRequest> {
    let version = task.version + 1 + i64::try_from(n)?;
    let event = proto::TaskEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: proto::TaskEventType::Updated as i32,
        user_id: task.user_id.clone(),
        task_id: task.id.clone(),
        version,
        occur_time: Some(std::time::SystemTime::now().into()),
        actor: Some(proto::Actor {
            kind: proto::ActorKind::User as i32,
            id: task.user_id.clone(),
        }),
        task: Some(proto::Task {
            version,
            title: format!("{} (edit {n})", task.title),
            ..task.clone()
        }),
        previous: Some(task.clone()),
    };
    Ok(TopicEventRequest {
        id: uuid::Uuid::new_v4().to_string(),
        source: "todo-api".into(),
        r#type: "com.dapr.event.sent".into(),
        spec_version: "1.0".into(),
        data_content_type: "application/json".into(),
        data: todo_proto::json::to_json(&event)?,
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        ..Default::default()
    })
}

/// How many history entries the tasks have, read page by page through the gateway.
async fn history_entries(
    channel: &Channel,
    user: &tonic::metadata::AsciiMetadataValue,
    tasks: &[proto::Task],
) -> anyhow::Result<usize> {
    let mut total = 0;
    for task in tasks {
        let mut page_token = String::new();
        loop {
            let page = AuditServiceClient::new(channel.clone())
                .list_task_history(authorized(
                    user,
                    proto::ListTaskHistoryRequest {
                        task_id: task.id.clone(),
                        page_size: 200,
                        page_token: page_token.clone(),
                    },
                ))
                .await?
                .into_inner();
            total += page.entries.len();
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    Ok(total)
}
