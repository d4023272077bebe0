//! A service binary's whole `main`, so every service starts and stops the same way (STYLE.md,
//! "Startup and shutdown"): telemetry → configuration (exit 64 when unusable) → bind the app and
//! admin ports → serve until SIGTERM or SIGINT → flush telemetry → exit 0 (1 if serving failed).

use std::{fmt::Debug, future::Future, net::SocketAddr, pin::Pin, process::ExitCode};

use crate::{
    config::ConfigError,
    runner::{AppListeners, shutdown_signal},
};

/// Exit code for unusable configuration (`EX_USAGE`), before anything is bound.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// A service's configuration: read from the environment (or a map, in tests), and the two
/// addresses the service binds.
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

    /// The app port: gRPC for daprd (and the public, for the gateway).
    fn app_address(&self) -> SocketAddr;

    /// The admin port: metrics and probes.
    fn admin_address(&self) -> SocketAddr;
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
    let code = match AppListeners::bind(config.app_address(), config.admin_address()).await {
        Err(error) => {
            tracing::error!(%error, app = %config.app_address(), admin = %config.admin_address(), "cannot bind the app or admin port");
            eprintln!(
                "{service}: cannot bind {} or {}: {error}",
                config.app_address(),
                config.admin_address()
            );
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
