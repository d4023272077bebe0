//! A service binary's whole `main`, so every service starts and stops the same way (STYLE.md,
//! "Startup and shutdown"): telemetry → configuration (exit 64 when unusable) → bind the app and
//! admin ports → serve until SIGTERM or SIGINT → flush telemetry → exit 0 (1 if serving failed).

use std::{
    fmt::Debug, future::Future, net::SocketAddr, pin::Pin, process::ExitCode, time::Duration,
};

use crate::{
    DaprConfig,
    config::{ConfigError, Env},
    runner::{AppListeners, shutdown_signal},
};

/// Exit code for unusable configuration (`EX_USAGE`), before anything is bound.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// The app port: gRPC for daprd (`dapr run` sets it), and the public port of the gateway.
pub const ENV_APP_PORT: &str = "APP_PORT";
/// The admin port: `/metrics`, `/healthz`, `/readyz`.
pub const ENV_ADMIN_PORT: &str = "TODO_ADMIN_PORT";
/// Default for [`ENV_ADMIN_PORT`].
pub const DEFAULT_ADMIN_PORT: u16 = todo_telemetry::DEFAULT_ADMIN_PORT;
/// How long in-flight calls may take to finish after SIGTERM.
pub const ENV_SHUTDOWN_GRACE_SECONDS: &str = "TODO_SHUTDOWN_GRACE_SECONDS";
/// Default for [`ENV_SHUTDOWN_GRACE_SECONDS`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = crate::runner::DEFAULT_SHUTDOWN_GRACE;
/// How long to keep serving after reporting not ready, so load balancers stop routing here
/// before the port closes (Kubernetes sets 5; 0 locally).
pub const ENV_SHUTDOWN_DELAY_SECONDS: &str = "TODO_SHUTDOWN_DELAY_SECONDS";
/// Default for [`ENV_SHUTDOWN_DELAY_SECONDS`].
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::ZERO;
/// The Dapr state store a service keeps its state in.
pub const ENV_STATE_STORE: &str = "TODO_STATE_STORE";
/// Default for [`ENV_STATE_STORE`].
pub const DEFAULT_STATE_STORE: &str = "statestore";
/// Default for [`ENV_STATE_STORE`] in services that keep their own records (the gateway's
/// accounts, notification's reminders): a store without an outbox, so nothing written there is
/// ever published to `task-events` (the outbox publishes every transaction of its store).
pub const DEFAULT_APP_STATE_STORE: &str = "appstate";
/// The Dapr secret store holding the suite's keys.
pub const ENV_SECRET_STORE: &str = "TODO_SECRET_STORE";
/// Default for [`ENV_SECRET_STORE`].
pub const DEFAULT_SECRET_STORE: &str = "secretstore";
/// The secret (in that store) holding the suite's keys.
pub const ENV_SECRET_NAME: &str = "TODO_SECRET_NAME";
/// Default for [`ENV_SECRET_NAME`].
pub const DEFAULT_SECRET_NAME: &str = "todo-suite";

/// What every service reads the same way: where it listens, where its sidecar is, how it drains.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Where the app port listens (0.0.0.0 by default, so daprd or the Ingress reach it in a pod).
    pub app_address: SocketAddr,
    /// Where the admin endpoints listen.
    pub admin_address: SocketAddr,
    /// The sidecar and its tokens.
    pub dapr: DaprConfig,
    /// The drain period.
    pub shutdown_grace: Duration,
    /// How long to keep serving after reporting not ready.
    pub shutdown_delay: Duration,
}

impl ServiceSettings {
    /// Reads the settings through `env`; only the app port's default differs between services.
    ///
    /// # Errors
    /// The first variable whose value cannot be used.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        default_app_port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            app_address: env.listen_address(ENV_APP_PORT, default_app_port)?,
            admin_address: env.listen_address(ENV_ADMIN_PORT, DEFAULT_ADMIN_PORT)?,
            dapr: DaprConfig::from_lookup(env.lookup())?,
            shutdown_grace: env.seconds(ENV_SHUTDOWN_GRACE_SECONDS, DEFAULT_SHUTDOWN_GRACE)?,
            shutdown_delay: env
                .seconds_or_zero(ENV_SHUTDOWN_DELAY_SECONDS, DEFAULT_SHUTDOWN_DELAY)?,
        })
    }
}

/// A service's configuration: read from the environment (or a map, in tests), with the
/// [`ServiceSettings`] every service shares.
pub trait ServiceConfig: Sized + Debug {
    /// Reads the configuration through `lookup`, so tests pass a map.
    ///
    /// # Errors
    /// The first variable whose value cannot be used, named with its value.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// As [`ServiceConfig::from_lookup`].
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `vars` as `localdapr run` starts the service: with an
    /// `APP_API_TOKEN` unless `vars` sets one (an empty value turns it off). For tests.
    ///
    /// # Errors
    /// As [`ServiceConfig::from_lookup`].
    fn from_run_vars(vars: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| (*value).to_string())
                .or_else(|| (name == crate::config::ENV_APP_API_TOKEN).then(|| "app-token".into()))
        })
    }

    /// The settings every service shares, among them the two addresses it binds.
    fn settings(&self) -> &ServiceSettings;
}

/// The future that resolves when the service should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a service: reads its configuration from the environment, and `serve`s it on the bound
/// listeners until the shutdown future resolves.
pub async fn service_main<C, S, F, R>(service: &'static str, serve: S) -> ExitCode
where
    C: ServiceConfig,
    S: FnOnce(C, AppListeners, Shutdown) -> F,
    F: Future<Output = Result<(), R>>,
    R: std::error::Error,
{
    let guard = match todo_telemetry::TelemetryConfig::from_env()
        .and_then(|telemetry| todo_telemetry::init(service, &telemetry))
    {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{service}: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let config = match C::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "unusable configuration");
            eprintln!("{service}: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    tracing::info!(?config, "starting");
    let (app, admin) = (
        config.settings().app_address,
        config.settings().admin_address,
    );
    let code = match AppListeners::bind(app, admin).await {
        Err(error) => {
            tracing::error!(%error, %app, %admin, "cannot bind the app or admin port");
            eprintln!("{service}: cannot bind {app} or {admin}: {error}");
            ExitCode::FAILURE
        }
        Ok(listeners) => match serve(config, listeners, Box::pin(shutdown_signal())).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                let chain = todo_telemetry::error_chain(&error);
                tracing::error!(error = %chain, "stopped with an error");
                eprintln!("{service}: {chain}");
                ExitCode::FAILURE
            }
        },
    };
    if let Err(error) = guard.shutdown().await {
        eprintln!("{service}: cannot flush traces: {error}");
    }
    code
}
