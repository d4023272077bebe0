//! `api-mix`: the task API under load through the gateway, over gRPC (HTTP/2) and over gRPC-web
//! (HTTP/1.1): `users` signed-up users, each seeded with `tasks_per_user` tasks, and `in_flight`
//! calls at every moment, 70 % ListTasks (a page of 50), 10 % CreateTask, 10 % UpdateTask,
//! 10 % CompleteTask. The baseline, measured in the same run right before each transport with
//! the same client, connections and concurrency, is a bare tonic unary server
//! ([`crate::load::Echo`]). Every suite process's memory is sampled during the mix.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use todo_proto::todo::v1::{self as proto, task_service_client::TaskServiceClient};
use tokio::sync::Mutex;
use tonic::{Status, metadata::AsciiMetadataValue};

use crate::{
    load::{
        Connections, Echo, GrpcTransport, LoadResult, LoadShape, Transport, authorized, closed_loop,
    },
    memory::Sampler,
    report::Report,
    suite::{Suite, SuiteOptions},
    with_client,
};

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Signed-up users the calls are spread over.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Tasks each user holds before the mix starts.
    #[arg(long, default_value_t = 20)]
    pub tasks_per_user: usize,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// HTTP/2 connections the gRPC calls are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup_seconds: u64,
    /// Measured seconds, per transport and for each baseline.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Run the apps beside the real daprd, Kafka and PostgreSQL instead of localdapr (under
    /// `scripts/with-real-dapr.sh`); the report is then `api-mix-daprd`.
    #[arg(long)]
    pub real_dapr: bool,
}

/// One user of the mix: their `authorization` value and the tasks they may still change.
pub struct User {
    authorization: AsciiMetadataValue,
    open: Mutex<Vec<String>>,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(&SuiteOptions {
        real_dapr: options.real_dapr,
        ..SuiteOptions::default()
    })
    .await?;
    let users = sign_up(&suite, options.users).await?;
    seed(&suite, &users, options.tasks_per_user).await?;
    let echo = Echo::start().await?;
    let shape = LoadShape {
        in_flight: options.in_flight,
        warmup: Duration::from_secs(options.warmup_seconds),
        duration: Duration::from_secs(options.seconds),
    };
    let mut report = Report::new(
        if options.real_dapr {
            "api-mix-daprd"
        } else {
            "api-mix"
        },
        serde_json::json!({
            "users": options.users,
            "tasks_per_user": options.tasks_per_user,
            "in_flight": options.in_flight,
            "grpc_connections": options.connections,
            "seconds": options.seconds,
            "mix": "70% ListTasks (50), 10% CreateTask, 10% UpdateTask, 10% CompleteTask",
            "runtime": if options.real_dapr { "daprd 1.18.3, Kafka, PostgreSQL" } else { "localdapr" },
            "baseline": "bare tonic unary (grpc.health.v1 Health/Check), same client and concurrency",
        }),
    );
    let sampler = Sampler::start(suite.processes());
    for transport in [Transport::Grpc, Transport::GrpcWeb] {
        let name = transport.name();
        let baseline = echo.measure(transport, options.connections, shape).await?;
        let mix = mix(&suite, &users, transport, options.connections, shape).await?;
        eprintln!(
            "{} {name}: {:.0} ops/s ({} errors), baseline {:.0} ops/s",
            report.scenario,
            mix.ops_per_second(),
            mix.errors,
            baseline.ops_per_second()
        );
        report.throughput(name, &mix, &baseline);
        for kind in ["list", "create", "update", "complete"] {
            if let Some(samples) = mix.samples.get(kind) {
                report.latencies(&format!("{name}_{kind}"), &mut samples.clone());
            }
        }
    }
    sampler.stop().await.report(&mut report, "under_mix");
    suite.stop().await?;
    Ok(report)
}

/// Signs up `count` users, 16 at a time.
pub async fn sign_up(suite: &Suite, count: usize) -> anyhow::Result<Arc<Vec<User>>> {
    let channel = suite.connect().await?;
    let users: Vec<User> = futures::stream::iter(0..count)
        .map(|_| {
            let channel = channel.clone();
            async move {
                Ok::<_, anyhow::Error>(User {
                    authorization: suite.new_user(channel).await?,
                    open: Mutex::new(Vec::new()),
                })
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await
        .context("signing up the users")?;
    Ok(Arc::new(users))
}

/// Gives every user `count` tasks.
async fn seed(suite: &Suite, users: &Arc<Vec<User>>, count: usize) -> anyhow::Result<()> {
    let channel = suite.connect().await?;
    let started = std::time::Instant::now();
    futures::stream::iter((0..users.len()).flat_map(|user| (0..count).map(move |n| (user, n))))
        .map(|(user, n)| {
            let client = TaskServiceClient::new(channel.clone());
            let users = Arc::clone(users);
            async move { create(client, &users[user], n).await }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
        .context("seeding the users' tasks")?;
    eprintln!(
        "api-mix: seeded {} tasks in {:.1} s",
        users.len() * count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The mix over `transport`.
async fn mix(
    suite: &Suite,
    users: &Arc<Vec<User>>,
    transport: Transport,
    connections: usize,
    shape: LoadShape,
) -> anyhow::Result<LoadResult> {
    let connections = Connections::open(transport, suite.address, connections).await?;
    let users = Arc::clone(users);
    Ok(closed_loop(shape, move |worker| {
        let connections = connections.clone();
        let users = Arc::clone(&users);
        async move {
            let (user, roll) = {
                let mut rng = rand::rng();
                (rng.random_range(0..users.len()), rng.random_range(0..100))
            };
            let user = &users[user];
            with_client!(&connections, worker, TaskServiceClient, |client| {
                match roll {
                    0..70 => ("list", list(client, user).await),
                    70..80 => ("create", create(client, user, roll).await),
                    80..90 => ("update", update(client, user).await),
                    _ => ("complete", complete(client, user).await),
                }
            })
        }
    })
    .await)
}

async fn list<T: GrpcTransport>(mut client: TaskServiceClient<T>, user: &User) -> Result<(), Status>
where
    T::Future: Send,
{
    let page = client
        .list_tasks(authorized(
            &user.authorization,
            proto::ListTasksRequest {
                page_size: 50,
                ..Default::default()
            },
        ))
        .await?;
    if page.get_ref().tasks.is_empty() {
        return Err(Status::internal("bench: a seeded user listed no tasks"));
    }
    Ok(())
}

async fn create<T: GrpcTransport>(
    mut client: TaskServiceClient<T>,
    user: &User,
    n: usize,
) -> Result<(), Status>
where
    T::Future: Send,
{
    let created = client
        .create_task(authorized(
            &user.authorization,
            proto::CreateTaskRequest {
                title: format!("bench task {n}"),
                description: "Made by bench api-mix.".into(),
                tags: vec!["bench".into(), format!("t{}", n % 7)],
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let id = created
        .task
        .map(|task| task.id)
        .ok_or_else(|| Status::internal("bench: CreateTask answered no task"))?;
    user.open.lock().await.push(id);
    Ok(())
}

/// Takes one of the user's open tasks out of their pool, so that no two calls change it at once.
async fn take_open(user: &User) -> Option<String> {
    let mut open = user.open.lock().await;
    if open.is_empty() {
        return None;
    }
    let index = rand::rng().random_range(0..open.len());
    Some(open.swap_remove(index))
}

async fn update<T: GrpcTransport>(
    mut client: TaskServiceClient<T>,
    user: &User,
) -> Result<(), Status>
where
    T::Future: Send,
{
    let Some(id) = take_open(user).await else {
        return create(client, user, 0).await;
    };
    let outcome = client
        .update_task(authorized(
            &user.authorization,
            proto::UpdateTaskRequest {
                task: Some(proto::Task {
                    id: id.clone(),
                    title: format!("updated {}", uuid::Uuid::new_v4().simple()),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
                ..Default::default()
            },
        ))
        .await;
    user.open.lock().await.push(id);
    outcome.map(drop)
}

async fn complete<T: GrpcTransport>(
    mut client: TaskServiceClient<T>,
    user: &User,
) -> Result<(), Status>
where
    T::Future: Send,
{
    let Some(id) = take_open(user).await else {
        return create(client, user, 0).await;
    };
    client
        .complete_task(authorized(
            &user.authorization,
            proto::CompleteTaskRequest {
                task_id: id,
                ..Default::default()
            },
        ))
        .await
        .map(drop)
}
