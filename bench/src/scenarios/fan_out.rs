//! `fan-out`: live delivery to many watchers. For each watcher count, `watchers / per_user`
//! fresh users each open `per_user` WatchTasks streams through the gateway (spread over HTTP/2
//! connections of at most [`STREAMS_PER_CONNECTION`] streams); then `changes` creates are made
//! one at a time, round-robin over the users. For every change and every watcher of its user,
//! the figure is the time from the mutation's response to the event's arrival on that watch. An
//! event that beats the response back (the outbox publishes inside the write's transaction)
//! counts as 0 and in `events_before_response`. A watch that never sees an event counts in
//! `missed` (must be 0).

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use clap::Args;
use todo_proto::todo::v1::{
    self as proto, sync_service_client::SyncServiceClient, task_service_client::TaskServiceClient,
    watch_tasks_response::Item,
};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};

use crate::{
    load::authorized,
    report::Report,
    suite::{Suite, SuiteOptions},
};

/// HTTP/2 streams per connection (below the servers' concurrent-stream limits).
const STREAMS_PER_CONNECTION: usize = 100;
/// How long the watches may take to deliver the last events after the last change.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// The watcher counts to measure at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub watchers: Vec<usize>,
    /// Watches per user (each of a user's changes reaches this many).
    #[arg(long, default_value_t = 10)]
    pub per_user: usize,
    /// Changes per watcher count.
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// sync instances (the sidecar spreads the watches over them).
    #[arg(long, default_value_t = 2)]
    pub sync_replicas: usize,
}

/// An event's arrival on a watch: its task and version, and which watch.
type Arrival = (String, i64, usize, Instant);

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(&SuiteOptions {
        extra_sync_replicas: options.sync_replicas.saturating_sub(1),
        ..SuiteOptions::default()
    })
    .await?;
    let mut report = Report::new(
        "fan-out",
        serde_json::json!({
            "watchers": options.watchers,
            "per_user": options.per_user,
            "changes": options.changes,
            "sync_replicas": options.sync_replicas,
        }),
    );
    for &watchers in &options.watchers {
        // A count that fails is reported as failed, with why; the others still run.
        if let Err(error) = measure(&suite, &options, watchers, &mut report).await {
            eprintln!("fan-out to {watchers} watchers FAILED: {error:#}");
            report.figure(&format!("failed_{watchers}"), 1.0);
            report.note(format!("{watchers} watchers: failed: {error:#}"));
        }
    }
    suite.stop().await?;
    Ok(report)
}

async fn measure(
    suite: &Suite,
    options: &Options,
    watchers: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let per_user = options.per_user.clamp(1, watchers.max(1));
    let user_count = watchers.div_ceil(per_user);
    let signing = suite.connect().await?;
    let mut users = Vec::with_capacity(user_count);
    for _ in 0..user_count {
        users.push(suite.new_user(signing.clone()).await?);
    }

    let mut connections = Vec::new();
    for _ in 0..watchers.div_ceil(STREAMS_PER_CONNECTION) {
        connections.push(suite.connect().await?);
    }
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<Arrival>();
    let mut watches = JoinSet::new();
    for watcher in 0..watchers {
        let request = authorized(&users[watcher % user_count], proto::WatchTasksRequest {});
        let mut stream = SyncServiceClient::new(connections[watcher % connections.len()].clone())
            .watch_tasks(request)
            .await
            .with_context(|| format!("opening watch {watcher}"))?
            .into_inner();
        let opening = stream.message().await?.and_then(|m| m.item);
        anyhow::ensure!(
            matches!(opening, Some(Item::Heartbeat(_))),
            "a watch opens with a heartbeat, got {opening:?}"
        );
        let arrived = arrived.clone();
        watches.spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                if let Some(Item::TaskEvent(event)) = message.item {
                    let _ = arrived.send((event.task_id, event.version, watcher, Instant::now()));
                }
            }
        });
    }
    drop(arrived);
    eprintln!("fan-out: {watchers} watches open over {user_count} users");

    let writer = suite.connect().await?;
    let mut answered: HashMap<(String, i64), (usize, Instant)> = HashMap::new();
    let mut mutations = Vec::with_capacity(options.changes);
    for change in 0..options.changes {
        let user = change % user_count;
        let started = Instant::now();
        let task = TaskServiceClient::new(writer.clone())
            .create_task(authorized(
                &users[user],
                proto::CreateTaskRequest {
                    title: format!("fan-out change {change}"),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .task
            .context("CreateTask answered no task")?;
        let now = Instant::now();
        mutations.push(now - started);
        answered.insert((task.id, task.version), (user, now));
    }

    let expected = options.changes * per_user;
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let mut delivery = Vec::with_capacity(expected);
    let mut before_response = 0_u32;
    let mut seen = std::collections::HashSet::new();
    while delivery.len() < expected {
        let Ok(Some((task, version, watcher, at))) =
            tokio::time::timeout_at(deadline, arrivals.recv()).await
        else {
            break;
        };
        let Some((user, at_response)) = answered.get(&(task.clone(), version)) else {
            continue;
        };
        if watcher % user_count != *user || !seen.insert((task, version, watcher)) {
            anyhow::bail!("watch {watcher} got an event twice or of another user");
        }
        if at < *at_response {
            before_response += 1;
        }
        delivery.push(at.saturating_duration_since(*at_response));
    }
    watches.abort_all();
    #[allow(clippy::cast_precision_loss)]
    let missed = (expected - delivery.len()) as f64;
    report.latencies(&format!("delivery_{watchers}"), &mut delivery);
    report.latencies(&format!("mutation_{watchers}"), &mut mutations);
    report.figure(
        &format!("events_before_response_{watchers}"),
        f64::from(before_response),
    );
    report.figure(&format!("missed_{watchers}"), missed);
    Ok(())
}
