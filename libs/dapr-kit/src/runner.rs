//! The app runner every service uses: it serves the service's gRPC API, Dapr's AppCallback,
//! `grpc.health.v1` and reflection on the app port, and `/metrics`, `/healthz` and `/readyz` on
//! the admin port; then it waits for a shutdown signal and drains.
//!
//! Lifecycle: bind (done by the caller, so tests use port 0) → health `SERVING`, ready → serve
//! until the shutdown future resolves → health `NOT_SERVING`, not ready, AppCallback unhealthy →
//! stop accepting connections and finish in-flight calls within the grace period → return.
//! With [`AppServer::watch_sidecar`], readiness and health also follow the sidecar while serving,
//! and the run ends with [`RunError::SidecarLost`] when it stays gone; with
//! [`AppServer::trusted_callers`], it refuses to run without an app token.

use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};

use axum::Router;
use secrecy::SecretString;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic::{server::NamedService, service::RoutesBuilder};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower_http::cors::CorsLayer;

use crate::callback::{AppCallbackService, AppTokenLayer};

/// The default time in-flight calls get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The app and admin listeners, bound before the runner starts.
#[derive(Debug)]
pub struct AppListeners {
    /// The app port: gRPC for daprd and (for the gateway) the public.
    pub app: TcpListener,
    /// The admin port: metrics and probes.
    pub admin: TcpListener,
}

impl AppListeners {
    /// Binds both ports.
    ///
    /// # Errors
    /// When an address is taken or not local.
    pub async fn bind(app: SocketAddr, admin: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            app: TcpListener::bind(app).await?,
            admin: TcpListener::bind(admin).await?,
        })
    }

    /// The bound app address (useful after binding port 0).
    ///
    /// # Errors
    /// When the socket is gone.
    pub fn app_address(&self) -> std::io::Result<SocketAddr> {
        self.app.local_addr()
    }

    /// The bound admin address.
    ///
    /// # Errors
    /// When the socket is gone.
    pub fn admin_address(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }
}

/// Why the runner stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A listener failed while serving.
    #[error("{server} server failed")]
    Serve {
        /// Which server: "app" or "admin".
        server: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A server stopped although no shutdown was requested.
    #[error("{server} server stopped unexpectedly")]
    StoppedUnexpectedly {
        /// Which server.
        server: &'static str,
    },
    /// Reflection could not read a descriptor set.
    #[error("invalid descriptor set for reflection")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The metrics recorder could not be installed.
    #[error("cannot install the metrics recorder")]
    Telemetry(#[source] todo_telemetry::TelemetryError),
    /// The sidecar stopped answering and did not come back (see [`crate::sidecar_watch`]).
    #[error("dapr sidecar unreachable for {}s, giving up", gone.as_secs())]
    SidecarLost {
        /// How long it had been gone.
        gone: Duration,
    },
    /// The service trusts caller identity but was given no app token to check it by.
    #[error("this service trusts caller identity and needs an app api token to check it by")]
    AppTokenRequired,
}

/// Describes what one app serves; [`AppServer::run`] serves it.
pub struct AppServer {
    routes: RoutesBuilder,
    health_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    callback: Option<AppCallbackService>,
    http_routes: Option<Router>,
    grpc_web: bool,
    cors: Option<CorsLayer>,
    app_token: Option<SecretString>,
    /// Set when the service trusts caller identity: whether it may do so without a token.
    caller_trust: Option<bool>,
    sidecar_watch: Option<crate::SidecarWatch>,
    shutdown_grace: Duration,
    shutdown_delay: Duration,
    shutdown_notice: Option<CancellationToken>,
}

impl Default for AppServer {
    fn default() -> Self {
        Self::new()
    }
}

impl AppServer {
    /// An app that serves nothing but health yet.
    pub fn new() -> Self {
        Self {
            routes: RoutesBuilder::default(),
            health_names: Vec::new(),
            descriptor_sets: Vec::new(),
            callback: None,
            http_routes: None,
            grpc_web: false,
            cors: None,
            app_token: None,
            caller_trust: None,
            sidecar_watch: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            shutdown_delay: Duration::ZERO,
            shutdown_notice: None,
        }
    }

    /// Serves a generated gRPC service, reported `SERVING` under its name in `grpc.health.v1`.
    pub fn grpc_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.health_names.push(S::NAME);
        self
    }

    /// Serves Dapr's AppCallback services (subscriptions, job triggers, app health).
    pub fn app_callback(mut self, callback: AppCallbackService) -> Self {
        self.callback = Some(callback);
        self
    }

    /// Adds an encoded descriptor set to gRPC reflection (served as v1 and v1alpha, so every
    /// `grpcurl` works). Health, reflection and `google.rpc` are always there: see
    /// [`STANDARD_DESCRIPTOR_SETS`].
    pub fn reflection(mut self, descriptor_set: &'static [u8]) -> Self {
        self.descriptor_sets.push(descriptor_set);
        self
    }

    /// Serves plain HTTP routes on the app port beside gRPC (the gateway's edge).
    pub fn http_routes(mut self, router: Router) -> Self {
        self.http_routes = Some(router);
        self
    }

    /// Accepts gRPC-web (HTTP/1.1 and HTTP/2) as well as gRPC on the gRPC routes.
    pub fn grpc_web(mut self) -> Self {
        self.grpc_web = true;
        self
    }

    /// Answers CORS (preflights included) on the whole app port with `cors`.
    ///
    /// It wraps gRPC, gRPC-web and the HTTP routes alike: a preflight `OPTIONS` carries no gRPC
    /// content type, so a layer on the gRPC routes alone would never see it.
    pub fn cors(mut self, cors: CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Requires daprd's app API token on gRPC calls (health excepted).
    pub fn app_token(mut self, token: Option<SecretString>) -> Self {
        self.app_token = token;
        self
    }

    /// Declares that handlers believe caller identity per `trusted`: the run then refuses to
    /// start without an app token, unless `trusted` accepts unverified calls (the insecure
    /// development override), which it reports loudly.
    pub fn trusted_callers(mut self, trusted: &crate::TrustedCallers) -> Self {
        self.caller_trust = Some(trusted.accepts_unverified_calls());
        self
    }

    /// Watches the sidecar while serving: not ready while it does not answer, and the run
    /// ends with [`RunError::SidecarLost`] when it stays gone.
    pub fn watch_sidecar(mut self, watch: crate::SidecarWatch) -> Self {
        self.sidecar_watch = Some(watch);
        self
    }

    /// Applies what a service behind a sidecar reads into [`crate::ServiceSettings`]: the
    /// app API token its sidecar sends, the shutdown grace and the shutdown delay.
    pub fn behind_sidecar(self, settings: &crate::ServiceSettings) -> Self {
        self.app_token(settings.dapr.app_api_token.clone())
            .shutdown_grace(settings.shutdown_grace)
            .shutdown_delay(settings.shutdown_delay)
    }

    /// Sets how long in-flight calls get to finish after shutdown begins.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Keeps accepting connections for `delay` after reporting not ready, so load balancers
    /// (Kubernetes Endpoints) stop sending traffic before the port closes.
    pub fn shutdown_delay(mut self, delay: Duration) -> Self {
        self.shutdown_delay = delay;
        self
    }

    /// Cancels `notice` when shutdown begins, so long-lived streams can end themselves instead
    /// of being cut off when the grace period is over.
    pub fn notify_shutdown(mut self, notice: CancellationToken) -> Self {
        self.shutdown_notice = Some(notice);
        self
    }

    /// Serves until `shutdown` resolves, then drains within the grace period.
    ///
    /// # Errors
    /// When a server fails or stops on its own, or reflection cannot be built.
    pub async fn run(
        self,
        listeners: AppListeners,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RunError> {
        if self.app_token.is_none()
            && let Some(accepts_unverified) = self.caller_trust
        {
            if !accepts_unverified {
                return Err(RunError::AppTokenRequired);
            }
            tracing::error!(
                override_variable = crate::caller::ENV_ALLOW_INSECURE_NO_APP_TOKEN,
                app = ?listeners.app.local_addr().ok(),
                "INSECURE: running without APP_API_TOKEN; anyone who reaches the app port can act \
                 as any user. Development only: unset the override and set the token"
            );
        }
        let metrics = todo_telemetry::install_recorder().map_err(RunError::Telemetry)?;
        crate::metrics::describe();
        let readiness = todo_telemetry::Readiness::new();

        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, &self.health_names, ServingStatus::Serving).await;

        let mut routes = self.routes;
        routes.add_service(health_service);
        add_reflection(&mut routes, &self.descriptor_sets)?;
        if let Some(callback) = &self.callback {
            callback.clone().add_to(&mut routes);
        }
        let app = app_router(
            routes.routes(),
            self.grpc_web,
            self.app_token,
            self.http_routes,
            self.cors,
        );

        let stop = CancellationToken::new();
        let mut servers = JoinSet::new();
        let app_address = listeners.app.local_addr().ok();
        let admin_address = listeners.admin.local_addr().ok();
        let app_stop = stop.clone().cancelled_owned();
        servers
            .spawn(async move { ("app", crate::net::serve(listeners.app, app, app_stop).await) });
        let admin = todo_telemetry::admin_router(metrics, readiness.clone());
        let admin_stop = stop.clone().cancelled_owned();
        servers.spawn(async move {
            (
                "admin",
                crate::net::serve(listeners.admin, admin, admin_stop).await,
            )
        });
        readiness.set_ready(true);
        tracing::info!(app = ?app_address, admin = ?admin_address, "serving");

        let availability = crate::sidecar_watch::Availability {
            readiness: readiness.clone(),
            health: health.clone(),
            health_names: self.health_names.clone(),
            callback: self.callback.clone(),
        };
        let sidecar_lost =
            crate::sidecar_watch::until_lost(self.sidecar_watch.as_ref(), &availability);
        let early_stop = tokio::select! {
            () = shutdown => None,
            Some(joined) = servers.join_next() => Some(joined),
            gone = sidecar_lost => {
                stop.cancel();
                servers.abort_all();
                return Err(RunError::SidecarLost { gone });
            }
        };
        if let Some(joined) = early_stop {
            stop.cancel();
            servers.abort_all();
            return Err(match joined {
                Ok((server, Err(source))) => RunError::Serve { server, source },
                Ok((server, Ok(()))) => RunError::StoppedUnexpectedly { server },
                Err(_) => RunError::StoppedUnexpectedly {
                    server: "app or admin",
                },
            });
        }

        tracing::info!(
            grace_seconds = self.shutdown_grace.as_secs(),
            delay_seconds = self.shutdown_delay.as_secs(),
            "shutting down, draining"
        );
        readiness.set_ready(false);
        set_health(&health, &self.health_names, ServingStatus::NotServing).await;
        if let Some(callback) = &self.callback {
            callback.set_healthy(false);
        }
        if let Some(notice) = &self.shutdown_notice {
            notice.cancel();
        }
        // Still serving while load balancers notice that we are not ready.
        tokio::time::sleep(self.shutdown_delay).await;
        stop.cancel();
        let drained = tokio::time::timeout(self.shutdown_grace, async {
            while let Some(joined) = servers.join_next().await {
                if let Ok((server, Err(error))) = joined {
                    tracing::warn!(server, %error, "server failed while draining");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("grace period over, abandoning calls still in flight");
            servers.abort_all();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Returns the app port's router as [`AppServer::run`] serves it: the gRPC `routes` behind the
/// size-limit fix, gRPC-web when `grpc_web`, the app token check and the telemetry layer; beside
/// `http_routes` (chosen by content type) when given; all behind `cors` when given. Public so
/// tests and the fuzz targets (`fuzz/`) drive the exact stack without a socket.
pub fn app_router(
    routes: tonic::service::Routes,
    grpc_web: bool,
    app_token: Option<SecretString>,
    http_routes: Option<Router>,
    cors: Option<CorsLayer>,
) -> Router {
    let mut grpc: Router = routes
        .prepare()
        .into_axum_router()
        .layer(crate::oversized_message::OversizedMessageLayer);
    if grpc_web {
        // Only on the gRPC routes: GrpcWebLayer answers 400 to plain HTTP requests.
        grpc = grpc.layer(tonic_web::GrpcWebLayer::new());
    }
    let grpc = grpc
        .layer(AppTokenLayer::new(app_token))
        .layer(todo_telemetry::GrpcTelemetryLayer::new());
    let mut app = match http_routes {
        Some(http) => grpc_or_http(grpc, http),
        None => grpc,
    };
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    app
}

/// Sends gRPC and gRPC-web requests (by content type) to `grpc` and everything else to `http`,
/// so both can share one port and each keep its own fallback.
fn grpc_or_http(grpc: Router, http: Router) -> Router {
    let dispatch = tower::service_fn(move |request: http::Request<axum::body::Body>| {
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        let target = if is_grpc { grpc.clone() } else { http.clone() };
        tower::ServiceExt::oneshot(target, request)
    });
    Router::new().fallback_service(dispatch)
}

pub(crate) async fn set_health(
    health: &HealthReporter,
    names: &[&'static str],
    status: ServingStatus,
) {
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// The descriptor sets every app serves through reflection beside its own: `grpc.health.v1` and
/// both reflection versions, so `grpcurl` can call them (it resolves every method through
/// reflection first), and `google.rpc` (`Status`, `BadRequest`, ...), so it can decode the error
/// details our statuses carry. Each set includes the well-known types it imports.
pub const STANDARD_DESCRIPTOR_SETS: [&[u8]; 4] = [
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    tonic_types::pb::FILE_DESCRIPTOR_SET,
];

fn add_reflection(routes: &mut RoutesBuilder, sets: &[&'static [u8]]) -> Result<(), RunError> {
    let configure = || {
        STANDARD_DESCRIPTOR_SETS.iter().chain(sets).fold(
            tonic_reflection::server::Builder::configure(),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    routes.add_service(configure().build_v1().map_err(RunError::Reflection)?);
    routes.add_service(configure().build_v1alpha().map_err(RunError::Reflection)?);
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}
