//! `reminders`: `count` reminders, all due within `window_seconds` of the start, on tasks of
//! `users` users who each have a WatchTasks stream open through the gateway. Each reminder's
//! lateness is the time from its `remind_time` to its `ReminderDue` reaching the watch
//! (notification's Dapr job, its trigger, the event, sync's fan-out, the gateway). Missed (never
//! arrived) and shown twice must both be 0.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use todo_proto::todo::v1::{
    self as proto, sync_service_client::SyncServiceClient, task_service_client::TaskServiceClient,
    watch_tasks_response::Item,
};
use tokio::sync::mpsc;

use crate::{
    load::authorized,
    report::Report,
    suite::{Suite, SuiteOptions},
};

/// How long after the last reminder's time a missing one is waited for.
const GRACE: Duration = Duration::from_secs(30);

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Reminders to schedule.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Users the reminders are spread over (one watch each).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Every reminder is due within this many seconds of the start; the first ones at half of
    /// it, so that creating the tasks fits before them.
    #[arg(long, default_value_t = 10)]
    pub window_seconds: u64,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(&SuiteOptions::default()).await?;
    let channel = suite.connect().await?;
    let mut users = Vec::with_capacity(options.users);
    for _ in 0..options.users.max(1) {
        users.push(suite.new_user(channel.clone()).await?);
    }
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<(String, SystemTime)>();
    let mut watches = tokio::task::JoinSet::new();
    for user in &users {
        let mut stream = SyncServiceClient::new(suite.connect().await?)
            .watch_tasks(authorized(user, proto::WatchTasksRequest {}))
            .await?
            .into_inner();
        let arrived = arrived.clone();
        watches.spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                if let Some(Item::ReminderDue(due)) = message.item {
                    let _ = arrived.send((due.task_id, SystemTime::now()));
                }
            }
        });
    }
    drop(arrived);

    let start = SystemTime::now();
    let window = Duration::from_secs(options.window_seconds);
    let first = window / 2;
    let count = options.count.max(1);
    let remind_at = |n: usize| {
        let spread = (window - first).mul_f64(n as f64 / count as f64);
        start + first + spread
    };
    let creating = std::time::Instant::now();
    let created: Vec<(String, SystemTime, bool)> = futures::stream::iter(0..count)
        .map(|n| {
            let client = TaskServiceClient::new(channel.clone());
            let user = users[n % users.len()].clone();
            let at = remind_at(n);
            async move { schedule(client, &user, n, at).await }
        })
        .buffer_unordered(32)
        .try_collect()
        .await
        .context("creating the tasks with reminders")?;
    eprintln!(
        "reminders: {count} scheduled in {:.1} s",
        creating.elapsed().as_secs_f64()
    );
    let scheduled_late = created.iter().filter(|(_, _, late)| *late).count();
    let due: HashMap<String, SystemTime> = created
        .into_iter()
        .map(|(task, at, _)| (task, at))
        .collect();

    let deadline = tokio::time::Instant::now()
        + (remind_at(count) + GRACE)
            .duration_since(SystemTime::now())
            .unwrap_or_default();
    let mut lateness = Vec::with_capacity(count);
    let mut early = 0_u32;
    let mut shown: HashMap<String, u32> = HashMap::new();
    while shown.len() < count {
        let Ok(Some((task, at))) = tokio::time::timeout_at(deadline, arrivals.recv()).await else {
            break;
        };
        let Some(remind) = due.get(&task) else {
            continue;
        };
        let times = shown.entry(task).or_default();
        *times += 1;
        if *times == 1 {
            match at.duration_since(*remind) {
                Ok(late) => lateness.push(late),
                Err(_) => {
                    early += 1;
                    lateness.push(Duration::ZERO);
                }
            }
        }
    }
    // Anything shown twice arrives soon after the first; give it a moment to show up.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some((task, _))) = tokio::time::timeout_at(settle, arrivals.recv()).await {
        if let Some(times) = shown.get_mut(&task) {
            *times += 1;
        }
    }
    watches.abort_all();

    let mut report = Report::new(
        "reminders",
        serde_json::json!({
            "count": count,
            "users": options.users,
            "window_seconds": options.window_seconds,
        }),
    );
    report.latencies("lateness", &mut lateness);
    #[allow(clippy::cast_precision_loss)]
    {
        report.figure("missed", (count - shown.len()) as f64);
        report.figure(
            "shown_twice",
            shown.values().filter(|times| **times > 1).count() as f64,
        );
        report.figure("scheduled_after_their_time", scheduled_late as f64);
    }
    report.figure("arrived_early", f64::from(early));
    suite.stop().await?;
    Ok(report)
}

/// Creates task `n` with a reminder at `at`; says whether the create answered after `at`
/// (then the reminder cannot be on time, and the figure is the bench's fault).
async fn schedule(
    mut client: TaskServiceClient<tonic::transport::Channel>,
    user: &tonic::metadata::AsciiMetadataValue,
    n: usize,
    at: SystemTime,
) -> anyhow::Result<(String, SystemTime, bool)> {
    let task = client
        .create_task(authorized(
            user,
            proto::CreateTaskRequest {
                title: format!("reminder {n}"),
                reminder: Some(proto::Reminder {
                    trigger: Some(proto::reminder::Trigger::RemindTime(at.into())),
                }),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .task
        .context("CreateTask answered no task")?;
    Ok((task.id, at, SystemTime::now() > at))
}
