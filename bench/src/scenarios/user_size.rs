//! `user-size`: one call at a time through the gateway, for users holding a given number of
//! tasks (a user of size N is seeded with N − calls tasks; the timed creates bring it to N):
//! CreateTask and ListTasks (first page of 50) latency per size. The baseline, measured
//! in the same run with the same client and connection, is the gateway's own
//! `grpc.health.v1.Health/Check`, which crosses no sidecar: what the figures add to it is the
//! suite's work (the gateway's forwarding, two sidecar hops, todo-api and the state store).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use todo_proto::todo::v1::{self as proto, task_service_client::TaskServiceClient};
use tokio::time::Instant;
use tonic::{Request, Status, metadata::AsciiMetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    report::Report,
    suite::{Suite, SuiteOptions},
};

/// How many creates may be in flight while a user is filled up to its size.
const SEED_CONCURRENCY: usize = 8;

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// The user sizes (tasks held) to measure at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,10000")]
    sizes: Vec<usize>,
    /// How many calls of each kind to time per size.
    #[arg(long, default_value_t = 100)]
    calls: usize,
}

type Authorized =
    TaskServiceClient<tonic::service::interceptor::InterceptedService<Channel, Authorize>>;

/// Adds the user's bearer token to every request.
#[derive(Clone)]
pub struct Authorize(pub AsciiMetadataValue);

impl tonic::service::Interceptor for Authorize {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(&SuiteOptions::default()).await?;
    let channel = suite.connect().await?;
    let mut health = HealthClient::new(channel.clone());
    let mut report = Report::new(
        "user-size",
        serde_json::json!({
            "sizes": options.sizes,
            "calls": options.calls,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        }),
    );

    for &size in &options.sizes {
        let authorization = suite.new_user(channel.clone()).await?;
        let mut tasks =
            TaskServiceClient::with_interceptor(channel.clone(), Authorize(authorization));
        let seeding = Instant::now();
        // The timed creates add `calls` tasks: seed that many fewer, so that a user "of size N"
        // never holds more than N (10,000 is the per-user limit).
        let seeded = size.saturating_sub(options.calls);
        seed(&tasks, seeded).await?;
        eprintln!(
            "user-size: seeded {seeded} tasks in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );

        let mut baseline = Vec::with_capacity(options.calls);
        let mut lists = Vec::with_capacity(options.calls);
        let mut creates = Vec::with_capacity(options.calls);
        // Interleaved, so that noise from the shared machine falls on all three alike.
        for call in 0..options.calls {
            baseline.push(timed(health.check(HealthCheckRequest::default())).await?);
            lists.push(
                timed(tasks.list_tasks(proto::ListTasksRequest {
                    page_size: 50,
                    ..Default::default()
                }))
                .await?,
            );
            creates.push(timed(tasks.create_task(create(size, call))).await?);
        }
        let p50 = |samples: &mut Vec<Duration>| {
            samples.sort_unstable();
            samples[samples.len() / 2].as_secs_f64()
        };
        let base = p50(&mut baseline);
        report.figure(
            &format!("list_ratio_to_baseline_at_{size}"),
            p50(&mut lists) / base,
        );
        report.figure(
            &format!("create_ratio_to_baseline_at_{size}"),
            p50(&mut creates) / base,
        );
        report.latencies(&format!("baseline_at_{size}"), &mut baseline);
        report.latencies(&format!("list_at_{size}"), &mut lists);
        report.latencies(&format!("create_at_{size}"), &mut creates);
    }
    suite.stop().await?;
    Ok(report)
}

/// Fills the user up to `size` tasks.
async fn seed(tasks: &Authorized, size: usize) -> anyhow::Result<()> {
    futures::stream::iter(0..size)
        .map(|n| {
            let mut tasks = tasks.clone();
            async move { tasks.create_task(create(0, n)).await.map(|_| ()) }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<()>()
        .await
        .context("seeding a user")
}

/// A CreateTask with some tags and a description, as a real one would have.
fn create(size: usize, n: usize) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        title: format!("task {n} of a user with {size}"),
        description: "Measured by bench user-size.".into(),
        tags: vec!["bench".into(), format!("t{}", n % 7)],
        ..Default::default()
    }
}

/// How long `call` took; an error fails the run (errors must be 0).
async fn timed<T>(
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    call.await.context("a timed call failed")?;
    Ok(started.elapsed())
}
