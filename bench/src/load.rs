//! The load: connections over either transport the gateway serves (gRPC on HTTP/2, gRPC-web on
//! HTTP/1.1), a closed-loop generator that keeps a fixed number of calls in flight, and the
//! baseline every throughput is divided by: a bare tonic unary server (`grpc.health.v1`
//! `Health/Check`, nothing else) in its own process, driven by the same client.

use std::{collections::HashMap, net::SocketAddr, process::Stdio, sync::Arc, time::Duration};

use anyhow::Context;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Child,
    time::Instant,
};
use tonic::{
    Status,
    codegen::{Body, Bytes, StdError},
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_web::{GrpcWebClientLayer, GrpcWebClientService};
use tower::Layer;

/// How the load reaches a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// gRPC over HTTP/2, calls multiplexed over a few connections.
    Grpc,
    /// gRPC-web over HTTP/1.1, as a browser speaks it: one call per connection at a time.
    GrpcWeb,
}

impl Transport {
    /// Its name in figures.
    pub fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::GrpcWeb => "grpc_web",
        }
    }
}

/// A gRPC-web client: tonic-web's framing over hyper's HTTP/1.1 client pool.
pub type WebService =
    GrpcWebClientService<Client<HttpConnector, tonic_web::GrpcWebCall<tonic::body::Body>>>;

/// Where calls go: HTTP/2 channels, or one gRPC-web client pool.
#[derive(Clone)]
pub enum Connections {
    /// Calls are spread over these HTTP/2 connections.
    Grpc(Vec<Channel>),
    /// Calls share one pool of HTTP/1.1 connections to `origin`.
    Web(Box<WebService>, http::Uri),
}

impl Connections {
    /// `count` connections to `address` over `transport` (gRPC-web opens as many as it needs).
    ///
    /// # Errors
    /// When a connection cannot be made.
    pub async fn open(
        transport: Transport,
        address: SocketAddr,
        count: usize,
    ) -> anyhow::Result<Self> {
        let origin: http::Uri = format!("http://{address}").parse()?;
        match transport {
            Transport::Grpc => {
                let mut channels = Vec::with_capacity(count);
                for _ in 0..count.max(1) {
                    channels.push(
                        Endpoint::from(origin.clone())
                            .tcp_nodelay(true)
                            .connect()
                            .await
                            .with_context(|| format!("connecting to {address}"))?,
                    );
                }
                Ok(Self::Grpc(channels))
            }
            Transport::GrpcWeb => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(usize::MAX)
                    .build(connector);
                Ok(Self::Web(
                    Box::new(GrpcWebClientLayer::new().layer(client)),
                    origin,
                ))
            }
        }
    }
}

/// Runs `$call` with a client of `$service` on the connection for `$worker`: the same code
/// for both transports, whose client types differ.
#[macro_export]
macro_rules! with_client {
    ($connections:expr, $worker:expr, $client:ident, |$bound:ident| $call:expr) => {
        match $connections {
            $crate::load::Connections::Grpc(channels) => {
                let $bound = $client::new(channels[$worker % channels.len()].clone());
                $call
            }
            $crate::load::Connections::Web(service, origin) => {
                let $bound =
                    $client::with_origin($crate::load::WebService::clone(service), origin.clone());
                $call
            }
        }
    };
}

/// The bound tonic's generated clients put on their transport, for generic call helpers.
pub trait GrpcTransport:
    tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
    > + Send
{
}

impl<T> GrpcTransport for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
        > + Send
{
}

/// How hard and how long to push.
#[derive(Clone, Copy, Debug)]
pub struct LoadShape {
    /// Calls in flight at every moment.
    pub in_flight: usize,
    /// Run, unmeasured, for this long first.
    pub warmup: Duration,
    /// Then measure for this long.
    pub duration: Duration,
}

/// What a closed-loop run measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Latencies of the measured calls that succeeded, by kind of call.
    pub samples: HashMap<&'static str, Vec<Duration>>,
    /// Measured calls that failed.
    pub errors: usize,
    /// The first few failures, to show.
    pub first_errors: Vec<String>,
    /// The measured window.
    pub window: Duration,
}

impl LoadResult {
    /// Measured calls that succeeded.
    pub fn ok(&self) -> usize {
        self.samples.values().map(Vec::len).sum()
    }

    /// Successful calls per second.
    pub fn ops_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let ok = self.ok() as f64;
        ok / self.window.as_secs_f64()
    }

    /// Every successful call's latency, of every kind.
    pub fn all_samples(&self) -> Vec<Duration> {
        self.samples.values().flatten().copied().collect()
    }
}

/// Keeps `shape.in_flight` calls of `call(worker)` going: each worker starts its next call
/// when its last one answers. Only calls started inside the measured window count.
pub async fn closed_loop<F, Fut>(shape: LoadShape, call: F) -> LoadResult
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (&'static str, Result<(), Status>)> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let measure_from = start + shape.warmup;
    let end = measure_from + shape.duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..shape.in_flight {
        let call = Arc::clone(&call);
        workers.spawn(async move {
            let mut result = LoadResult::default();
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let (kind, outcome) = call(worker).await;
                if started < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => result
                        .samples
                        .entry(kind)
                        .or_default()
                        .push(started.elapsed()),
                    Err(status) => {
                        result.errors += 1;
                        if result.first_errors.len() < 3 {
                            result.first_errors.push(format!("{kind}: {status}"));
                        }
                    }
                }
            }
            result
        });
    }
    let mut total = LoadResult {
        window: shape.duration,
        ..LoadResult::default()
    };
    while let Some(joined) = workers.join_next().await {
        let Ok(result) = joined else { continue };
        for (kind, samples) in result.samples {
            total.samples.entry(kind).or_default().extend(samples);
        }
        total.errors += result.errors;
        for error in result.first_errors {
            if total.first_errors.len() < 5 {
                total.first_errors.push(error);
            }
        }
    }
    total
}

/// The baseline server: a child process (`bench echo-server`) serving only
/// `grpc.health.v1.Health` with tonic, gRPC and gRPC-web on one port. Dropping it kills it.
pub struct Echo {
    /// Where it listens.
    pub address: SocketAddr,
    _child: Child,
}

impl Echo {
    /// Starts `bench echo-server` and waits for its port.
    ///
    /// # Errors
    /// When it cannot be started or says no port.
    pub async fn start() -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("echo-server")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting bench echo-server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .context("echo-server said no address within 10 s")??;
        let address = line
            .trim()
            .parse()
            .with_context(|| format!("echo-server said {line:?}"))?;
        Ok(Self {
            address,
            _child: child,
        })
    }

    /// Serves the baseline on 127.0.0.1 (an ephemeral port, printed on stdout), until killed.
    ///
    /// # Errors
    /// When it cannot listen.
    pub async fn serve() -> anyhow::Result<()> {
        let (_, health) = tonic_health::server::health_reporter();
        let incoming =
            tonic::transport::server::TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
                .with_nodelay(Some(true));
        println!("{}", incoming.local_addr()?);
        tonic::transport::Server::builder()
            .accept_http1(true)
            .layer(tonic_web::GrpcWebLayer::new())
            .add_service(health)
            .serve_with_incoming(incoming)
            .await?;
        Ok(())
    }

    /// The baseline's throughput and latency under `shape` over `transport`.
    ///
    /// # Errors
    /// When the connections cannot be opened.
    pub async fn measure(
        &self,
        transport: Transport,
        connections: usize,
        shape: LoadShape,
    ) -> anyhow::Result<LoadResult> {
        let connections = Connections::open(transport, self.address, connections).await?;
        Ok(closed_loop(shape, move |worker| {
            let connections = connections.clone();
            async move {
                let outcome = with_client!(&connections, worker, HealthClient, |client| {
                    echo(client).await
                });
                ("echo", outcome)
            }
        })
        .await)
    }
}

async fn echo<T: GrpcTransport>(mut client: HealthClient<T>) -> Result<(), Status>
where
    T::Future: Send,
{
    client.check(HealthCheckRequest::default()).await.map(drop)
}

/// `message` with the user's `authorization` value.
pub fn authorized<T>(
    authorization: &tonic::metadata::AsciiMetadataValue,
    message: T,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", authorization.clone());
    request
}
