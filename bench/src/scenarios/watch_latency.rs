//! `watch-latency`: opens WatchTasks streams of one user through the gateway, makes changes
//! one at a time through the gateway (alternately a create and an update of the task just
//! created), and measures, for every change and every watch, the time from the mutation's
//! response to the arrival of its event. An event that arrives before the response counts as 0
//! (and is counted in `events_before_response`): the outbox publishes inside the write's
//! transaction, so the event often beats the response back. `delivery_from_request` is the
//! time from sending the mutation to its event, which never clamps.

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use clap::Args;
use todo_proto::todo::v1::{
    self as proto, sync_service_client::SyncServiceClient, task_service_client::TaskServiceClient,
    watch_tasks_response::Item,
};
use tokio::{task::JoinSet, time::Instant};
use tonic::{Request, Status, metadata::AsciiMetadataValue};

use crate::{report::Report, suite::Suite};

/// How long the watches may take to deliver the last events after the last change.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// The scenario's knobs.
#[derive(Args, Debug)]
pub struct Options {
    /// How many changes to make.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// How many WatchTasks streams to open (each on its own connection).
    #[arg(long, default_value_t = 4)]
    watchers: usize,
    /// How many sync replicas to run (the watches are spread over them by the sidecar).
    #[arg(long, default_value_t = 2)]
    sync_replicas: usize,
}

/// A change, by the task and the version it produced.
type ChangeKey = (String, i64);

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(options.sync_replicas).await;
    let token = suite.new_user().await?;
    let bearer: AsciiMetadataValue = format!("Bearer {token}").parse()?;
    let authorize = move |mut request: Request<()>| -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    };

    let mut watchers = JoinSet::new();
    for _ in 0..options.watchers {
        let mut watch =
            SyncServiceClient::with_interceptor(suite.connect().await?, authorize.clone())
                .watch_tasks(proto::WatchTasksRequest {})
                .await?
                .into_inner();
        let opening = watch.message().await?.and_then(|m| m.item);
        anyhow::ensure!(
            matches!(opening, Some(Item::Heartbeat(_))),
            "a watch opens with a heartbeat, got {opening:?}"
        );
        let expected = options.changes;
        watchers.spawn(async move {
            let mut arrivals: HashMap<ChangeKey, Instant> = HashMap::new();
            while arrivals.len() < expected {
                let Some(response) = watch.message().await? else {
                    anyhow::bail!("a watch ended after {} events", arrivals.len());
                };
                if let Some(Item::TaskEvent(event)) = response.item {
                    arrivals
                        .entry((event.task_id, event.version))
                        .or_insert_with(Instant::now);
                }
            }
            Ok(arrivals)
        });
    }

    let mut tasks = TaskServiceClient::with_interceptor(suite.connect().await?, authorize);
    let mut responses: Vec<(ChangeKey, Instant, Instant)> = Vec::with_capacity(options.changes);
    let mut mutation_times = Vec::with_capacity(options.changes);
    let mut current: Option<proto::Task> = None;
    for change in 0..options.changes {
        let started = Instant::now();
        let task = match current.take().filter(|_| change % 2 == 1) {
            Some(task) => {
                tasks
                    .update_task(proto::UpdateTaskRequest {
                        task: Some(proto::Task {
                            id: task.id,
                            title: format!("change {change}"),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["title".into()],
                        }),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .task
            }
            None => {
                tasks
                    .create_task(proto::CreateTaskRequest {
                        title: format!("change {change}"),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .task
            }
        }
        .context("a mutation answered without its task")?;
        let answered = Instant::now();
        mutation_times.push(answered - started);
        responses.push(((task.id.clone(), task.version), started, answered));
        current = Some(task);
    }

    let mut delivery = Vec::with_capacity(options.changes * options.watchers);
    let mut from_request = Vec::with_capacity(options.changes * options.watchers);
    let mut before_response = 0_u32;
    let drained = tokio::time::timeout(DRAIN_DEADLINE, watchers.join_all())
        .await
        .context("the watches did not deliver every event in time")?;
    for arrivals in drained {
        let arrivals = arrivals?;
        for (key, started, answered) in &responses {
            let arrived = arrivals
                .get(key)
                .with_context(|| format!("no event for {key:?}"))?;
            if arrived < answered {
                before_response += 1;
            }
            delivery.push(arrived.saturating_duration_since(*answered));
            from_request.push(arrived.saturating_duration_since(*started));
        }
    }

    let mut report = Report::new(
        "watch-latency",
        serde_json::json!({
            "changes": options.changes,
            "watchers": options.watchers,
            "sync_replicas": options.sync_replicas,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        }),
    );
    report.latencies("delivery", &mut delivery);
    report.latencies("delivery_from_request", &mut from_request);
    report.latencies("mutation", &mut mutation_times);
    report.figure("events_before_response", f64::from(before_response));
    Ok(report)
}
