//! How late localdapr sends job triggers, against two baselines measured in the same run on the
//! same due times:
//!
//! - `sleep_until`: a bare `tokio::time::sleep_until` per due time (the timer alone);
//! - `sleep_until + OnJobEvent`: the timer, then the same gRPC call straight to the same app
//!   (the least any scheduler that delivers over gRPC could do).
//!
//! Lateness is the app's wall-clock receipt time minus the due time. Two patterns: staggered
//! (one job every 10 ms) and a burst (every job due at the same instant).
//!
//! Run: `cargo bench -p localdapr --bench jobs` (optionally `-- <jobs>`, default 300).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failed run

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use localdapr::{AppSpec, LocalDapr, LocalDaprConfig, Resources};
use todo_proto::dapr::proto::runtime::v1::{
    Job, JobEventRequest, JobEventResponse, ScheduleJobRequest,
    app_callback_client::AppCallbackClient,
    app_callback_server::{AppCallback, AppCallbackServer},
    dapr_client::DaprClient,
};
use tokio::{net::TcpListener, time::Instant};
use tonic::{Request, Response, Status};

/// A job name and when the app received its trigger.
type Receipt = (String, DateTime<Utc>);

/// The app's receipts.
#[derive(Clone, Default)]
struct Receipts(Arc<Mutex<Vec<Receipt>>>);

#[tonic::async_trait]
impl AppCallback for Receipts {
    async fn on_job_event(
        &self,
        request: Request<JobEventRequest>,
    ) -> Result<Response<JobEventResponse>, Status> {
        let at = Utc::now();
        self.0.lock().unwrap().push((request.into_inner().name, at));
        Ok(Response::new(JobEventResponse {}))
    }
}

impl Receipts {
    fn take(&self) -> Vec<Receipt> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Lateness in microseconds, sorted.
struct Distribution(Vec<i64>);

impl Distribution {
    fn new(mut micros: Vec<i64>) -> Self {
        micros.sort_unstable();
        Self(micros)
    }

    fn quantile(&self, q: f64) -> i64 {
        let index = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[index]
    }

    fn line(&self, label: &str) -> String {
        format!(
            "  {label:<26} min {:>7} µs  p50 {:>7} µs  p99 {:>7} µs  max {:>7} µs  early {}",
            self.0[0],
            self.quantile(0.5),
            self.quantile(0.99),
            self.0[self.0.len() - 1],
            self.0.iter().filter(|micros| **micros < 0).count(),
        )
    }
}

fn micros(delta: TimeDelta) -> i64 {
    delta.num_microseconds().unwrap()
}

/// Due times `lead` from now: staggered by `step`, or all at once when `step` is zero.
fn due_times(jobs: usize, lead: Duration, step: Duration) -> Vec<DateTime<Utc>> {
    let start = Utc::now() + TimeDelta::from_std(lead).unwrap();
    (0..jobs)
        .map(|index| {
            let offset = TimeDelta::from_std(step * u32::try_from(index).unwrap()).unwrap();
            // Whole microseconds, as RFC 3339 carries them below.
            let due = start + offset;
            DateTime::from_timestamp_micros(due.timestamp_micros()).unwrap()
        })
        .collect()
}

async fn wait_for(receipts: &Receipts, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while receipts.len() < count {
        assert!(Instant::now() < deadline, "triggers did not all arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn localdapr_lateness(
    sidecar: SocketAddr,
    receipts: &Receipts,
    due: &[DateTime<Utc>],
) -> Distribution {
    let mut client = DaprClient::connect(format!("http://{sidecar}"))
        .await
        .unwrap();
    receipts.take();
    for (index, due) in due.iter().enumerate() {
        let job = Job {
            name: format!("bench-{index}"),
            due_time: Some(due.to_rfc3339_opts(SecondsFormat::Micros, true)),
            ..Default::default()
        };
        client
            .schedule_job(ScheduleJobRequest {
                job: Some(job),
                overwrite: true,
            })
            .await
            .unwrap();
    }
    assert!(
        Utc::now() < due[0],
        "scheduling took longer than the lead time"
    );
    wait_for(receipts, due.len()).await;
    let received = receipts.take();
    Distribution::new(
        received
            .iter()
            .map(|(name, at)| {
                let index: usize = name.trim_start_matches("bench-").parse().unwrap();
                micros(*at - due[index])
            })
            .collect(),
    )
}

/// The timer alone, or the timer and a direct `OnJobEvent` call when `app` is given.
async fn baseline_lateness(
    due: &[DateTime<Utc>],
    app: Option<(&AppCallbackClient<tonic::transport::Channel>, &Receipts)>,
) -> Distribution {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, due) in due.iter().copied().enumerate() {
        let client = app.map(|(client, _)| client.clone());
        tasks.spawn(async move {
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep_until(Instant::now() + wait).await;
            match client {
                None => micros(Utc::now() - due),
                Some(mut client) => {
                    client
                        .on_job_event(JobEventRequest {
                            name: format!("baseline-{index}"),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    0
                }
            }
        });
    }
    let timer_only = tasks.join_all().await;
    match app {
        None => Distribution::new(timer_only),
        Some((_, receipts)) => {
            let received = receipts.take();
            Distribution::new(
                received
                    .iter()
                    .map(|(name, at)| {
                        let index: usize = name.trim_start_matches("baseline-").parse().unwrap();
                        micros(*at - due[index])
                    })
                    .collect(),
            )
        }
    }
}

async fn run(jobs: usize) {
    let data_dir = tempfile::tempdir().unwrap();
    let dapr = LocalDapr::start(LocalDaprConfig::new(
        data_dir.path().to_path_buf(),
        Resources::default(),
    ))
    .await
    .unwrap();
    let receipts = Receipts::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = listener.local_addr().unwrap().port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AppCallbackServer::new(receipts.clone()))
            .serve_with_incoming(dapr_kit::net::incoming(listener)),
    );
    let sidecar = dapr
        .add_app(AppSpec::new("bench", Some(app_port)))
        .await
        .unwrap();
    sidecar.wait_app_connected().await;
    let direct = AppCallbackClient::connect(format!("http://127.0.0.1:{app_port}"))
        .await
        .unwrap();

    println!("job trigger lateness, {jobs} jobs per pattern (wall clock at the app - due time)");
    for (pattern, step) in [
        ("staggered, 10 ms apart", Duration::from_millis(10)),
        ("burst, all at once", Duration::ZERO),
    ] {
        let lead =
            Duration::from_millis(500) + Duration::from_millis(5) * u32::try_from(jobs).unwrap();
        let ours = localdapr_lateness(
            sidecar.grpc_address,
            &receipts,
            &due_times(jobs, lead, step),
        )
        .await;
        let timer =
            baseline_lateness(&due_times(jobs, Duration::from_millis(500), step), None).await;
        let delivered = baseline_lateness(
            &due_times(jobs, Duration::from_millis(500), step),
            Some((&direct, &receipts)),
        )
        .await;
        println!("{pattern}:");
        println!("{}", ours.line("localdapr"));
        println!("{}", timer.line("sleep_until"));
        println!("{}", delivered.line("sleep_until + OnJobEvent"));
        for (label, baseline) in [
            ("sleep_until", &timer),
            ("sleep_until + OnJobEvent", &delivered),
        ] {
            let ratio = |q: f64| ours.quantile(q) as f64 / baseline.quantile(q).max(1) as f64;
            println!(
                "  localdapr / {label}: p50 x{:.2}, p99 x{:.2}",
                ratio(0.5),
                ratio(0.99)
            );
        }
    }
    dapr.shutdown().await;
}

fn main() {
    let jobs = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'))
        .map_or(300, |count| {
            count.parse().expect("the job count is a number")
        });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(jobs));
}
