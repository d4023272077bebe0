//! Pub/sub through a real localdapr sidecar: publish→deliver latency (p50/p99) and sustained
//! events/s to a dapr-kit subscriber, each next to a baseline measured in the same run — a
//! bare gRPC unary round trip over loopback (`OnTopicEvent` called straight on an app) — and
//! reported as a ratio to it, so numbers compare across machines.
//!
//! Run: `cargo bench -p localdapr --bench pubsub` (sizes: `PUBSUB_BENCH_EVENTS`, default 2000).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark binary

use std::{
    path::Path,
    time::{Duration, Instant},
};

use dapr_kit::{
    AppCallbackService, DaprClient, DaprConfig, JobHandlers, Publication, Subscription,
    Subscriptions, TopicEvent,
};
use localdapr::{AppSpec, LocalDapr, LocalDaprConfig, Resources};
use todo_proto::dapr::proto::runtime::v1::{
    TopicEventRequest, app_callback_client::AppCallbackClient,
};
use tokio::{net::TcpListener, sync::mpsc};

const COMPONENTS: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"#;

/// Concurrent publishers in the throughput run.
const PUBLISHERS: usize = 8;

fn main() {
    let events: usize = std::env::var("PUBSUB_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(events));
}

async fn run(events: usize) {
    let (sender, mut delivered) = mpsc::unbounded_channel::<Instant>();
    let callback = AppCallbackService::new(
        Subscriptions::new().subscribe(Subscription::new("pubsub", "bench").default_route(
            move |_event: TopicEvent| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(Instant::now());
                    Ok(())
                }
            },
        )),
        JobHandlers::new(),
    );
    let app_address = serve_app(callback).await;

    let baseline = baseline_round_trips(app_address, events).await;

    let data_dir = tempfile::tempdir().unwrap();
    let mut resources = Resources::default();
    resources
        .add_documents(Path::new("bench.yaml"), COMPONENTS)
        .unwrap();
    let dapr = LocalDapr::start(LocalDaprConfig::new(
        data_dir.path().to_path_buf(),
        resources,
    ))
    .await
    .unwrap();
    let subscriber = dapr
        .add_app(AppSpec::new("subscriber", Some(app_address.port())))
        .await
        .unwrap();
    subscriber.wait_app_connected().await;
    let publisher = dapr.add_app(AppSpec::new("publisher", None)).await.unwrap();
    let client = DaprClient::connect(&DaprConfig::for_endpoint(
        format!("http://{}", publisher.grpc_address)
            .parse()
            .unwrap(),
    ))
    .await
    .unwrap();

    // Warm up connections and the log.
    for _ in 0..50 {
        publish(&client, 0).await;
        delivered.recv().await.unwrap();
    }

    let mut latencies = Vec::with_capacity(events);
    for n in 0..events {
        let started = Instant::now();
        publish(&client, n).await;
        let arrived = delivered.recv().await.unwrap();
        latencies.push(arrived - started);
    }

    let started = Instant::now();
    let mut publishers = Vec::new();
    for worker in 0..PUBLISHERS {
        let client = client.clone();
        publishers.push(tokio::spawn(async move {
            for n in (worker..events).step_by(PUBLISHERS) {
                publish(&client, n).await;
            }
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let published_in = started.elapsed();
    for _ in 0..events {
        delivered.recv().await.unwrap();
    }
    let delivered_in = started.elapsed();
    dapr.shutdown().await;

    let latency = Percentiles::of(&mut latencies);
    let throughput = events as f64 / delivered_in.as_secs_f64();
    let publish_rate = events as f64 / published_in.as_secs_f64();
    println!(
        "pubsub benchmark: {events} events, {PUBLISHERS} concurrent publishers for throughput"
    );
    println!(
        "baseline  grpc unary round trip (loopback): p50 {:>8.3} ms  p99 {:>8.3} ms  {:>8.0} calls/s sequential",
        ms(baseline.p50),
        ms(baseline.p99),
        1.0 / baseline.mean.as_secs_f64()
    );
    println!(
        "latency   publish -> delivered:             p50 {:>8.3} ms  p99 {:>8.3} ms  ({:.1}x / {:.1}x baseline)",
        ms(latency.p50),
        ms(latency.p99),
        ratio(latency.p50, baseline.p50),
        ratio(latency.p99, baseline.p99)
    );
    println!(
        "throughput sustained publish -> delivered:  {throughput:>8.0} events/s ({:.2}x the baseline's sequential calls/s); publishing alone {publish_rate:.0} events/s",
        throughput * baseline.mean.as_secs_f64()
    );
}

async fn publish(client: &DaprClient, n: usize) {
    client
        .publish(
            "pubsub",
            Publication::json("bench", format!(r#"{{"n":{n}}}"#).into_bytes()),
        )
        .await
        .unwrap();
}

/// Serves `callback` on a loopback port, for the life of the process.
async fn serve_app(callback: AppCallbackService) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(callback.into_routes())
            .serve_with_incoming(dapr_kit::net::incoming(listener)),
    );
    address
}

/// The same `OnTopicEvent` call the sidecar makes, sent straight to the app.
async fn baseline_round_trips(app: std::net::SocketAddr, calls: usize) -> Percentiles {
    let mut client = AppCallbackClient::connect(format!("http://{app}"))
        .await
        .unwrap();
    let request = || TopicEventRequest {
        id: "id".into(),
        topic: "baseline".into(),
        pubsub_name: "pubsub".into(),
        data: br#"{"n":0}"#.to_vec(),
        data_content_type: "application/json".into(),
        ..Default::default()
    };
    for _ in 0..50 {
        client.on_topic_event(request()).await.unwrap();
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        client.on_topic_event(request()).await.unwrap();
        samples.push(started.elapsed());
    }
    Percentiles::of(&mut samples)
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Percentiles {
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        let total: Duration = samples.iter().sum();
        Self {
            p50: at(0.50),
            p99: at(0.99),
            mean: total / u32::try_from(samples.len()).unwrap(),
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(value: Duration, baseline: Duration) -> f64 {
    value.as_secs_f64() / baseline.as_secs_f64()
}
