//! `state-mix`: localdapr's state and pub/sub path alone, under the API mix's load shape, through
//! its gRPC API in process. `concurrency` callers share one connection to the sidecar, as
//! todo-api does, and each loops for `seconds`: 70 % a listing (`GetBulkState` of a user's 16
//! bucket keys), 30 % a change (`GetState` of one bucket, then `ExecuteStateTransaction` of its
//! upsert under the etag read plus an outbox projection, retried on a conflict). Every outbox
//! message is delivered to a subscriber app and acknowledged, as sync's are. The baseline,
//! measured in the same run at the same concurrency, is `GetMetadata` on the same sidecar: a
//! round trip that touches no database.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use clap::Args;
use dapr_kit::{
    AppCallbackService, DaprClient, JobHandlers, StateOperation, Subscription, Subscriptions,
    TopicEvent,
};
use localdapr::testsuite::TestDapr;
use tokio::{task::JoinSet, time::Instant};

use crate::report::Report;

/// The state store with the suite's outbox (to `pubsub`, topic `task-events`).
const STORE: &str = "statestore";
/// Keys read by one listing: todo-api's bucket count.
const BUCKETS: usize = 16;
/// How many conflicts a change retries before it counts as an error.
const MAX_CONFLICT_RETRIES: usize = 8;
/// How long every figure's load runs before it is timed.
const WARM_UP: Duration = Duration::from_secs(2);

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to time each load for (after a warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users, each with 16 bucket keys.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Bytes per bucket value.
    #[arg(long, default_value_t = 2048)]
    value_bytes: usize,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let dapr = TestDapr::start_suite().await;
    let delivered = Arc::new(AtomicU64::new(0));
    let counter = delivered.clone();
    let _subscriber = dapr
        .app(
            "subscriber",
            AppCallbackService::new(
                Subscriptions::new().subscribe(
                    Subscription::new("pubsub", "task-events").default_route(
                        move |_event: TopicEvent| {
                            let counter = counter.clone();
                            async move {
                                counter.fetch_add(1, Ordering::Relaxed);
                                Ok(())
                            }
                        },
                    ),
                ),
                JobHandlers::new(),
            ),
        )
        .await;
    let client = dapr.client("todo-api").await.client;
    seed(&client, &options).await?;

    let mut report = Report::new(
        "state-mix",
        serde_json::json!({
            "concurrency": options.concurrency,
            "seconds": options.seconds,
            "users": options.users,
            "value_bytes": options.value_bytes,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        }),
    );
    let baseline = load(&client, &options, Call::Metadata).await?;
    let published_before = delivered.load(Ordering::Relaxed);
    let mix = load(&client, &options, Call::Mix).await?;
    report.figure("baseline_ops_per_second", baseline.ops_per_second);
    report.figure("mix_ops_per_second", mix.ops_per_second);
    report.figure(
        "mix_ratio_to_baseline",
        mix.ops_per_second / baseline.ops_per_second,
    );
    report.figure("mix_errors", mix.errors as f64);
    report.figure("mix_conflict_retries", mix.conflicts as f64);
    let mut baseline_samples = baseline.samples;
    let mut mix_samples = mix.samples;
    report.latencies("baseline", &mut baseline_samples);
    report.latencies("mix", &mut mix_samples);
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while delivered.load(Ordering::Relaxed) - published_before < mix.published {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    report.figure(
        "outbox_undelivered_after_30s",
        if drained.is_ok() {
            0.0
        } else {
            (mix.published - (delivered.load(Ordering::Relaxed) - published_before)) as f64
        },
    );
    Ok(report)
}

/// What one load measured.
struct Measured {
    ops_per_second: f64,
    samples: Vec<Duration>,
    errors: u64,
    conflicts: u64,
    /// Changes committed (each published one outbox message), warm-up included.
    published: u64,
}

/// Which load to run.
#[derive(Clone, Copy)]
enum Call {
    Metadata,
    Mix,
}

/// Writes every bucket of every user once.
async fn seed(client: &DaprClient, options: &Options) -> anyhow::Result<()> {
    let value = vec![7u8; options.value_bytes];
    let keys: Vec<String> = (0..options.users)
        .flat_map(|user| (0..BUCKETS).map(move |bucket| bucket_key(user, bucket)))
        .collect();
    for chunk in keys.chunks(64) {
        let operations = chunk
            .iter()
            .map(|key| StateOperation::upsert(key.clone(), value.clone()))
            .collect();
        client
            .transact(STORE, operations)
            .await
            .context("seeding the buckets")?;
    }
    Ok(())
}

fn bucket_key(user: usize, bucket: usize) -> String {
    format!("tasks-user{user}-{bucket:x}")
}

/// Runs `call` from `options.concurrency` callers for the warm-up, then for `options.seconds`.
async fn load(client: &DaprClient, options: &Options, call: Call) -> anyhow::Result<Measured> {
    let timing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = JoinSet::new();
    for caller in 0..options.concurrency {
        let client = client.clone();
        let (timing, stop) = (timing.clone(), stop.clone());
        let (users, value_bytes) = (options.users, options.value_bytes);
        callers.spawn(async move {
            let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (caller as u64 + 1));
            let mut caller_result = Measured {
                ops_per_second: 0.0,
                samples: Vec::new(),
                errors: 0,
                conflicts: 0,
                published: 0,
            };
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let outcome = match call {
                    Call::Metadata => client
                        .metadata()
                        .await
                        .map(|_| Outcome::default())
                        .map_err(|_| ()),
                    Call::Mix => {
                        let user = random.below(users);
                        if random.below(10) < 7 {
                            list(&client, user).await.map(|()| Outcome::default())
                        } else {
                            let bucket = random.below(BUCKETS);
                            change(&client, user, bucket, value_bytes).await
                        }
                    }
                };
                match outcome {
                    Ok(outcome) => {
                        caller_result.conflicts += outcome.conflicts;
                        caller_result.published += outcome.published;
                    }
                    Err(()) => caller_result.errors += 1,
                }
                if timing.load(Ordering::Relaxed) {
                    caller_result.samples.push(started.elapsed());
                }
            }
            caller_result
        });
    }
    tokio::time::sleep(WARM_UP).await;
    timing.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    timing.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut measured = Measured {
        ops_per_second: 0.0,
        samples: Vec::new(),
        errors: 0,
        conflicts: 0,
        published: 0,
    };
    while let Some(caller) = callers.join_next().await {
        let caller = caller?;
        measured.samples.extend(caller.samples);
        measured.errors += caller.errors;
        measured.conflicts += caller.conflicts;
        measured.published += caller.published;
    }
    measured.ops_per_second = measured.samples.len() as f64 / elapsed.as_secs_f64();
    Ok(measured)
}

/// What one call did besides succeeding.
#[derive(Default)]
struct Outcome {
    conflicts: u64,
    published: u64,
}

/// A listing: every bucket of `user` in one `GetBulkState`.
async fn list(client: &DaprClient, user: usize) -> Result<(), ()> {
    let keys: Vec<String> = (0..BUCKETS)
        .map(|bucket| bucket_key(user, bucket))
        .collect();
    match client.get_bulk_state(STORE, &keys).await {
        Ok(entries) if entries.len() == BUCKETS => Ok(()),
        _ => Err(()),
    }
}

/// A change: read one bucket, write it back under its etag with an outbox projection.
async fn change(
    client: &DaprClient,
    user: usize,
    bucket: usize,
    value_bytes: usize,
) -> Result<Outcome, ()> {
    let key = bucket_key(user, bucket);
    let mut conflicts = 0;
    for _ in 0..=MAX_CONFLICT_RETRIES {
        let entry = client.get_state(STORE, &key).await.map_err(|_| ())?;
        let etag = entry.and_then(|entry| entry.etag);
        let write =
            StateOperation::upsert(key.clone(), vec![9u8; value_bytes]).with_etag(etag.as_ref());
        let projection =
            StateOperation::outbox_projection(key.clone(), br#"{"bench":true}"#.to_vec())
                .with_metadata("partitionKey", &key);
        match client.transact(STORE, vec![write, projection]).await {
            Ok(()) => {
                return Ok(Outcome {
                    conflicts,
                    published: 1,
                });
            }
            Err(error) if error.is_etag_conflict() => conflicts += 1,
            Err(_) => return Err(()),
        }
    }
    Err(())
}

/// A small deterministic generator (xorshift64), so runs before and after a change compare.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound as u64).unwrap_or(0)
    }
}
