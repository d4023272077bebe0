//! The typed client for the sidecar's `dapr.proto.runtime.v1.Dapr` API.
//!
//! One [`DaprClient`] wraps one HTTP/2 channel to the sidecar; it is cheap to clone and every
//! clone shares the connection. Each call carries the `dapr-api-token` (when configured) and the
//! current trace context, so daprd continues the caller's trace into pub/sub and state spans.

mod invocation;
mod jobs;
mod pubsub;
mod secret_key;
mod secrets;
mod state;

use std::time::Duration;

use secrecy::ExposeSecret;
use todo_proto::dapr::proto::runtime::v1::{
    self as dapr, dapr_client::DaprClient as GeneratedClient,
};
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

pub use invocation::AppChannel;
pub use jobs::{JobFailurePolicy, JobSpec};
pub use pubsub::Publication;
pub use secret_key::{SecretKeyError, SecretKeyRef};
pub use secrets::Secret;
pub use state::{BulkStateEntry, Concurrency, Etag, StateEntry, StateOperation};

use crate::{DaprConfig, DaprError};

/// The metadata key both directions use for API tokens.
pub(crate) const API_TOKEN_HEADER: &str = "dapr-api-token";
/// The metadata key that routes a proxied call to another app.
pub(crate) const APP_ID_HEADER: &str = "dapr-app-id";

/// Adds the API token, the proxy target and the trace context to every outgoing call.
#[derive(Clone, Debug, Default)]
pub struct SidecarInterceptor {
    api_token: Option<AsciiMetadataValue>,
    target_app_id: Option<AsciiMetadataValue>,
    acting_user: Option<AsciiMetadataValue>,
}

impl Interceptor for SidecarInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        if let Some(token) = &self.api_token {
            metadata.insert(API_TOKEN_HEADER, token.clone());
        }
        if let Some(app_id) = &self.target_app_id {
            metadata.insert(APP_ID_HEADER, app_id.clone());
        }
        if let Some(user) = &self.acting_user {
            metadata.insert(crate::caller::USER_ID_HEADER, user.clone());
        }
        todo_telemetry::propagation::inject_context(metadata);
        Ok(request)
    }
}

type Inner = GeneratedClient<InterceptedService<Channel, SidecarInterceptor>>;

/// A client of the Dapr sidecar's gRPC API.
#[derive(Clone, Debug)]
pub struct DaprClient {
    inner: Inner,
    channel: Channel,
    interceptor: SidecarInterceptor,
}

impl DaprClient {
    /// Connects to the sidecar, retrying until it answers `GetMetadata` or
    /// `config.startup_timeout` passes.
    ///
    /// Retrying matters at startup: in Kubernetes the sidecar and the app start together, and
    /// `dapr run`/localdapr may start the app first.
    ///
    /// # Errors
    /// [`DaprError::SidecarUnreachable`] when the deadline passes; [`DaprError::InvalidMetadata`]
    /// when the API token is not ASCII.
    pub async fn connect(config: &DaprConfig) -> Result<Self, DaprError> {
        let client = Self::connect_lazy(config)?;
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            // No attempt outlives the deadline: a sidecar that accepts TCP but never answers
            // would otherwise hold startup for a whole call timeout past it.
            let remaining = config.startup_timeout.saturating_sub(started.elapsed());
            let attempt = tokio::time::timeout(
                remaining,
                client
                    .inner
                    .clone()
                    .get_metadata(dapr::GetMetadataRequest {}),
            )
            .await;
            let last_error = match attempt {
                Ok(Ok(_)) => return Ok(client),
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("no answer before the startup deadline"),
            };
            if started.elapsed() + backoff > config.startup_timeout {
                return Err(DaprError::SidecarUnreachable {
                    endpoint: config.endpoint.to_string(),
                    waited: started.elapsed(),
                    last_error: Box::new(last_error),
                });
            }
            tracing::debug!(endpoint = %config.endpoint, code = ?last_error.code(), "dapr sidecar not ready, retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Creates a client without waiting for the sidecar; the first call connects.
    ///
    /// # Errors
    /// [`DaprError::InvalidMetadata`] when the API token is not ASCII.
    pub fn connect_lazy(config: &DaprConfig) -> Result<Self, DaprError> {
        let channel = Endpoint::from(config.endpoint.clone())
            .connect_timeout(Duration::from_secs(2))
            .timeout(config.call_timeout)
            .tcp_nodelay(true)
            .max_frame_size(crate::net::MAX_FRAME_SIZE)
            .connect_lazy();
        let api_token = config
            .api_token
            .as_ref()
            .map(|token| metadata_value(API_TOKEN_HEADER, token.expose_secret()))
            .transpose()?;
        let interceptor = SidecarInterceptor {
            api_token,
            ..Default::default()
        };
        let inner = GeneratedClient::with_interceptor(channel.clone(), interceptor.clone());
        Ok(Self {
            inner,
            channel,
            interceptor,
        })
    }

    /// Describes the sidecar: app id, components, subscriptions.
    ///
    /// # Errors
    /// The sidecar's status.
    pub async fn metadata(&self) -> Result<dapr::GetMetadataResponse, DaprError> {
        self.inner
            .clone()
            .get_metadata(dapr::GetMetadataRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| DaprError::call("GetMetadata", status))
    }

    /// Asks the sidecar to shut down.
    ///
    /// # Errors
    /// The sidecar's status.
    pub async fn shutdown(&self) -> Result<(), DaprError> {
        self.inner
            .clone()
            .shutdown(dapr::ShutdownRequest {})
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("Shutdown", status))
    }

    fn generated(&self) -> Inner {
        self.inner.clone()
    }
}

pub(crate) fn metadata_value(
    name: &'static str,
    value: &str,
) -> Result<AsciiMetadataValue, DaprError> {
    value
        .parse()
        .map_err(|_| DaprError::InvalidMetadata { name })
}
