//! The `localdapr` binary: `localdapr run -f dapr.yaml` starts the apps of a Dapr multi-app run
//! file, each with its sidecar; `localdapr sidecar` serves one sidecar for an app you start
//! yourself. Both stop gracefully on Ctrl-C or SIGTERM.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use localdapr::{
    AppSpec, LocalDapr, LocalDaprConfig, Resources,
    runner::{self, RunFile, RunOptions},
};

/// An embedded, Dapr-compatible runtime for running and testing Dapr apps on one machine.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every app of a Dapr multi-app run file, each with its own sidecar.
    Run {
        /// The run file.
        #[arg(short = 'f', long = "file", default_value = "dapr.yaml")]
        file: PathBuf,
        /// Where localdapr keeps its data (default: `.localdapr` beside the run file).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Where `/metrics` (daprd's metric names) and `/healthz` are served; 0 turns them off.
        #[arg(long, default_value_t = 9090)]
        metrics_port: u16,
        #[command(flatten)]
        daprd: DaprdArgs,
    },
    /// Serves one sidecar for an app started separately.
    Sidecar {
        /// The app id.
        #[arg(long)]
        app_id: String,
        /// The app's gRPC port, if it serves one.
        #[arg(long)]
        app_port: Option<u16>,
        /// The sidecar's gRPC port.
        #[arg(long, default_value_t = 50001)]
        dapr_grpc_port: u16,
        /// The sidecar's HTTP port (`DAPR_HTTP_PORT`): daprd's health endpoints, which every
        /// official Dapr SDK polls before its first call.
        #[arg(long, default_value_t = 3500)]
        dapr_http_port: u16,
        /// Where the components are.
        #[arg(long, default_value = "dapr-components/local")]
        resources_path: PathBuf,
        /// Where localdapr keeps its data.
        #[arg(long, default_value = ".localdapr")]
        data_dir: PathBuf,
        /// The token apps must send (`DAPR_API_TOKEN`).
        #[arg(long, env = "DAPR_API_TOKEN", hide_env_values = true)]
        api_token: Option<String>,
        /// The token sent to the app (`APP_API_TOKEN`).
        #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
        app_api_token: Option<String>,
        /// Where `/metrics` and `/healthz` are served; 0 turns them off.
        #[arg(long, default_value_t = 9090)]
        metrics_port: u16,
    },
}

/// `localdapr run` beside the real daprd instead of localdapr's sidecars.
#[derive(clap::Args)]
struct DaprdArgs {
    /// Runs each app beside this daprd binary (Dapr's real sidecar) instead of localdapr's own;
    /// localdapr then only supervises, as `dapr run` does.
    #[arg(long, env = "TODO_DAPRD")]
    daprd: Option<PathBuf>,
    /// The components the real daprd loads (default: the run file's `resourcesPath`).
    #[arg(long, requires = "daprd")]
    daprd_resources_path: Option<PathBuf>,
    /// A Dapr Configuration file for the real daprd (`--config`).
    #[arg(long, requires = "daprd")]
    daprd_config: Option<PathBuf>,
    /// The Dapr Scheduler's address for the real daprd (`--scheduler-host-address`).
    #[arg(long, env = "TODO_DAPR_SCHEDULER", requires = "daprd")]
    scheduler_host_address: Option<String>,
    /// The real daprd's `--log-level`.
    #[arg(long, default_value = "info")]
    daprd_log_level: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match todo_telemetry::TelemetryConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("localdapr: {error}");
            return ExitCode::from(64);
        }
    };
    let guard = match todo_telemetry::init("localdapr", &telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("localdapr: cannot start logging: {error}");
            return ExitCode::from(70);
        }
    };
    let outcome = match cli.command {
        Command::Run {
            file,
            data_dir,
            metrics_port,
            daprd,
        } => {
            serve_metrics(metrics_port).await;
            run(file, data_dir, daprd).await
        }
        Command::Sidecar {
            app_id,
            app_port,
            dapr_grpc_port,
            dapr_http_port,
            resources_path,
            data_dir,
            api_token,
            app_api_token,
            metrics_port,
        } => {
            serve_metrics(metrics_port).await;
            let mut spec = AppSpec::new(app_id, app_port);
            spec.dapr_grpc_address = SocketAddr::from(([127, 0, 0, 1], dapr_grpc_port));
            spec.dapr_http_address = SocketAddr::from(([127, 0, 0, 1], dapr_http_port));
            spec.api_token = api_token;
            spec.app_api_token = app_api_token;
            sidecar(spec, resources_path, data_dir).await
        }
    };
    let code = match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("localdapr: {error:#}");
            ExitCode::FAILURE
        }
    };
    if let Err(error) = guard.shutdown().await {
        eprintln!("localdapr: cannot flush traces: {error}");
    }
    code
}

async fn run(file: PathBuf, data_dir: Option<PathBuf>, daprd: DaprdArgs) -> anyhow::Result<()> {
    let run_file = RunFile::load(&file)?;
    let daprd = daprd.daprd.map(|binary| runner::DaprdOptions {
        binary,
        resources_path: daprd
            .daprd_resources_path
            .unwrap_or_else(|| run_file.resources_path.clone()),
        config: daprd.daprd_config,
        scheduler_host_address: daprd.scheduler_host_address,
        log_level: daprd.daprd_log_level,
        namespace: None,
    });
    // localdapr's own components are read (and checked) only when it serves the sidecars.
    let resources = match &daprd {
        Some(_) => Resources::default(),
        None => Resources::load(&run_file.resources_path)?,
    };
    let data_dir = data_dir.unwrap_or_else(|| {
        file.parent()
            .map(|p| p.join(".localdapr"))
            .unwrap_or_default()
    });
    runner::run(
        run_file,
        resources,
        RunOptions { data_dir, daprd },
        dapr_kit::shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn sidecar(spec: AppSpec, resources_path: PathBuf, data_dir: PathBuf) -> anyhow::Result<()> {
    let resources = Resources::load(&resources_path)?;
    let dapr = LocalDapr::start(LocalDaprConfig::new(data_dir, resources)).await?;
    let handle = dapr
        .add_app(spec)
        .await
        .context("cannot start the sidecar")?;
    println!(
        "localdapr: sidecar for {} listening on {} (gRPC) and {} (HTTP)",
        handle.app.app_id(),
        handle.grpc_address,
        handle.http_address
    );
    dapr_kit::shutdown_signal().await;
    dapr.shutdown().await;
    Ok(())
}

/// Serves `/metrics`, `/healthz` and `/readyz` on 127.0.0.1:`port` for the life of the process.
async fn serve_metrics(port: u16) {
    if port == 0 {
        return;
    }
    let handle = match todo_telemetry::install_recorder() {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "metrics are off");
            return;
        }
    };
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            let readiness = todo_telemetry::Readiness::new();
            readiness.set_ready(true);
            let router = todo_telemetry::admin_router(handle, readiness);
            tracing::info!(%address, "serving metrics");
            // Lives as long as the process: it stops when main returns.
            tokio::spawn(dapr_kit::net::serve(
                listener,
                router,
                std::future::pending(),
            ));
        }
        Err(error) => tracing::warn!(%address, %error, "cannot serve metrics; use --metrics-port"),
    }
}
