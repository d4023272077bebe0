//! Watching the sidecar: an app whose sidecar is gone can do nothing (every state, publish and
//! proxied call fails `Unavailable`), yet it would keep its port and report ready, and a restart
//! of the suite would find that port taken. So the app runner probes the sidecar
//! (`GetMetadata`, with the app's token) every [`DEFAULT_PROBE_INTERVAL`]: on the first failed
//! probe the app reports not ready (`/readyz`, gRPC health `NOT_SERVING`, AppCallback unhealthy);
//! if the sidecar answers again it is ready again; once it has not answered for
//! [`DaprConfig::sidecar_lost_exit`] the runner stops with [`crate::RunError::SidecarLost`] and
//! the service exits non-zero, for its supervisor (Kubernetes, `localdapr run`) to see.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{AppCallbackService, DaprClient, DaprConfig};

/// How often the sidecar is probed; a probe that takes longer counts as failed.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// What the app runner needs to watch a sidecar.
#[derive(Clone, Debug)]
pub struct SidecarWatch {
    client: DaprClient,
    probe_interval: Duration,
    lost_exit: Duration,
}

impl SidecarWatch {
    /// Watches the sidecar of `client`, giving up after `config.sidecar_lost_exit`.
    pub fn new(client: DaprClient, config: &DaprConfig) -> Self {
        Self {
            client,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            lost_exit: config.sidecar_lost_exit,
        }
    }

    /// Probes every `interval` instead (tests use a short one).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Gives up after `lost_exit` without an answer instead.
    pub fn lost_exit(mut self, lost_exit: Duration) -> Self {
        self.lost_exit = lost_exit;
        self
    }

    /// Probes until the sidecar has not answered for the exit delay, and returns how long it
    /// was gone; `availability` follows each change.
    async fn until_lost(&self, availability: &Availability) -> Duration {
        let mut ticks = tokio::time::interval(self.probe_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut lost_since: Option<Instant> = None;
        loop {
            ticks.tick().await;
            let probe = tokio::time::timeout(self.probe_interval, self.client.metadata()).await;
            let answered = matches!(probe, Ok(Ok(_)));
            match (answered, lost_since) {
                (true, None) => {}
                (true, Some(since)) => {
                    tracing::info!(
                        gone_seconds = since.elapsed().as_secs(),
                        "dapr sidecar answers again, ready"
                    );
                    lost_since = None;
                    availability.set(true).await;
                }
                (false, None) => {
                    let error = match probe {
                        Ok(Err(error)) => error.to_string(),
                        _ => format!("no answer within {:?}", self.probe_interval),
                    };
                    tracing::warn!(
                        %error,
                        exit_after_seconds = self.lost_exit.as_secs(),
                        "dapr sidecar unreachable, not ready"
                    );
                    lost_since = Some(Instant::now());
                    availability.set(false).await;
                }
                (false, Some(since)) if since.elapsed() >= self.lost_exit => {
                    tracing::error!(
                        gone_seconds = since.elapsed().as_secs(),
                        "dapr sidecar gone for good, stopping"
                    );
                    return since.elapsed();
                }
                (false, Some(_)) => {}
            }
        }
    }
}

/// Where an app says whether it can serve: `/readyz`, gRPC health, and AppCallback health.
pub(crate) struct Availability {
    pub(crate) readiness: todo_telemetry::Readiness,
    pub(crate) health: HealthReporter,
    pub(crate) health_names: Vec<&'static str>,
    pub(crate) callback: Option<AppCallbackService>,
}

impl Availability {
    async fn set(&self, available: bool) {
        self.readiness.set_ready(available);
        let status = if available {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        crate::runner::set_health(&self.health, &self.health_names, status).await;
        if let Some(callback) = &self.callback {
            callback.set_healthy(available);
        }
    }
}

/// Resolves, with how long the sidecar was gone, when `watch` gives up on it; never without one.
pub(crate) async fn until_lost(
    watch: Option<&SidecarWatch>,
    availability: &Availability,
) -> Duration {
    match watch {
        Some(watch) => watch.until_lost(availability).await,
        None => std::future::pending().await,
    }
}
