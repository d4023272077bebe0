//! Startup: connect to the sidecar, read the JWT signing key, and serve the public port with
//! dapr-kit's app runner until shutdown.
//!
//! The gateway does not require Dapr's app API token on its port, unlike the other services:
//! the port is the public edge, called by browsers and `grpcurl`, which never hold that token.
//! Users are authenticated by their access tokens instead, and nothing calls the gateway
//! through Dapr (it serves no subscriptions, jobs or invocations).

use std::future::Future;
use tokio_util::sync::CancellationToken;

use dapr_kit::{
    AppListeners, AppServer, DaprClient, DaprError, RunError, SecretKeyError, SecretKeyRef,
    SidecarWatch,
};
use todo_proto::todo::v1::{
    audit_service_server::AuditServiceServer, auth_service_server::AuthServiceServer,
    notification_service_server::NotificationServiceServer, sync_service_server::SyncServiceServer,
    task_service_server::TaskServiceServer,
};

use crate::{
    Config,
    auth::{
        AccessTokens, Accounts, Auth, AuthApi, Passwords, RefreshTokens, SignInLimiter, SigningKey,
        access_tokens::MIN_SIGNING_KEY_BYTES,
    },
    edge,
    error::Error,
    forwarding::{Forwarder, Upstreams},
    websocket,
};

/// The key of the JWT signing key inside the suite's secret.
pub const JWT_SIGNING_KEY: &str = "jwt-signing-key";

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sidecar could not be reached, or refused a startup call.
    #[error("dapr sidecar unavailable at startup")]
    Dapr(#[from] DaprError),
    /// The signing key cannot be read or is too weak.
    #[error(transparent)]
    SigningKey(#[from] SecretKeyError),
    /// Password hashing could not be prepared.
    #[error("cannot prepare password hashing")]
    Hashing(#[source] Error),
    /// Serving failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Serves the gateway on `listeners` until `shutdown` resolves.
///
/// # Errors
/// When the sidecar or the signing key is unavailable, or serving fails.
pub async fn run(
    config: Config,
    listeners: AppListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let dapr = DaprClient::connect(&config.settings.dapr).await?;
    let signing_key = signing_key(&dapr, &config).await?;
    crate::metrics::describe();
    let access_tokens = AccessTokens::new(&signing_key, config.access_token_ttl);
    let concurrency = std::thread::available_parallelism().map_or(2, usize::from);
    let passwords = Passwords::new(concurrency)
        .await
        .map_err(ServerError::Hashing)?;
    let auth = Auth::new(
        Accounts::new(dapr.clone(), config.state_store.clone()),
        passwords,
        access_tokens.clone(),
        RefreshTokens::new(
            dapr.clone(),
            config.state_store.clone(),
            config.refresh_token_ttl,
            config.refresh_reuse_grace,
        ),
        SignInLimiter::new(config.sign_in_limits),
    );
    let shutting_down = CancellationToken::new();
    let forwarder = Forwarder::new(
        access_tokens,
        Upstreams::new(&dapr, &config.upstreams)?,
        config.forward_deadline,
        shutting_down.clone(),
    );
    let mut server = AppServer::new()
        .grpc_service(AuthServiceServer::new(AuthApi::new(
            auth,
            config.trust_forwarded_for,
        )))
        .grpc_service(TaskServiceServer::new(forwarder.clone()))
        .grpc_service(AuditServiceServer::new(forwarder.clone()))
        .grpc_service(NotificationServiceServer::new(forwarder.clone()))
        .grpc_service(SyncServiceServer::new(forwarder.clone()))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .grpc_web()
        .http_routes(edge::routes(config.frontend_dir.clone()).merge(websocket::routes(forwarder)))
        .shutdown_grace(config.settings.shutdown_grace)
        .shutdown_delay(config.settings.shutdown_delay)
        .notify_shutdown(shutting_down)
        .watch_sidecar(SidecarWatch::new(dapr.clone(), &config.settings.dapr));
    if let Some(cors) = edge::cors(&config.cors_origins) {
        server = server.cors(cors);
    }
    server.run(listeners, shutdown).await?;
    Ok(())
}

async fn signing_key(dapr: &DaprClient, config: &Config) -> Result<SigningKey, ServerError> {
    let at = SecretKeyRef::new(
        &config.secret_store,
        &config.secret_name,
        JWT_SIGNING_KEY,
        format!("the JWT signing key (at least {MIN_SIGNING_KEY_BYTES} random bytes)"),
    );
    Ok(dapr
        .read_secret_key(&at, |value| SigningKey::new(value.to_vec()))
        .await?)
}
