//! `localdapr run -f dapr.yaml`: one runtime, a sidecar per app, and the apps' processes.
//!
//! Order, as daprd and `dapr run` do it: sidecars first (their gRPC API is up before the apps
//! start), then each app with `DAPR_GRPC_PORT`, `DAPR_HTTP_PORT` and friends; each sidecar
//! waits for its app port, reads the subscriptions once and starts deliveries. Every app and
//! sidecar is guarded by API tokens, random per run unless the run file sets them ([`tokens`]).
//! Nothing is restarted silently: if an app exits, the run stops and says which app and how. On
//! Ctrl-C or SIGTERM deliveries drain first, then the apps get SIGTERM, then the sidecars stop.

mod daprd;
mod process;
mod run_file;
pub mod tokens;

use std::{future::Future, net::SocketAddr, path::PathBuf, time::Duration};

use tokio_util::task::TaskTracker;

#[cfg(feature = "testsuite")]
pub(crate) use daprd::http_status;
pub use daprd::{Daprd, DaprdError, DaprdOptions};
pub use process::{AppProcess, Launch};
pub use run_file::{RunApp, RunFile, RunFileError};

use crate::{
    components::Resources,
    runtime::{AppSpec, LocalDapr, LocalDaprConfig, StartError},
};

/// How long stopping waits for the apps' output to end once they are stopped.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long every real daprd of a run may take to report healthy (its app included).
const DAPRD_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an app gets to exit after SIGTERM.
pub const APP_STOP_GRACE: Duration = Duration::from_secs(10);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The runtime or a sidecar could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// An app's command could not be started.
    #[error("cannot start app {app_id} ({command:?})")]
    Spawn {
        /// The app.
        app_id: String,
        /// Its command.
        command: Vec<String>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A real daprd sidecar did not come up.
    #[error(transparent)]
    Daprd(#[from] DaprdError),
    /// The run's API tokens could not be written.
    #[error(transparent)]
    Tokens(#[from] tokens::TokensError),
    /// An app exited while the run was up.
    #[error("app {app_id} exited ({status}); stopping the run")]
    AppExited {
        /// The app.
        app_id: String,
        /// How it exited.
        status: String,
    },
}

/// Options of a run beyond the run file.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where the database (and the run's `tokens.json`) lives.
    pub data_dir: PathBuf,
    /// Run every app beside the real daprd instead of localdapr's sidecars.
    pub daprd: Option<DaprdOptions>,
}

/// Runs the apps of `run_file` until `shutdown` resolves or an app exits. Apps get random API
/// tokens unless the run file sets them, written to [`tokens::TOKENS_FILE`] in the data
/// directory once it is locked.
///
/// # Errors
/// When something cannot start, or an app exits on its own ([`RunError::AppExited`]).
pub async fn run(
    mut run_file: RunFile,
    resources: Resources,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    tokens::assign(&mut run_file.apps);
    if let Some(daprd) = &options.daprd {
        let path = tokens::write(&options.data_dir, &run_file.apps).await?;
        tracing::info!(file = %path.display(), "api tokens of this run written");
        return run_apps_on_daprd(daprd, &run_file, shutdown).await;
    }
    let dapr = LocalDapr::start(LocalDaprConfig::new(options.data_dir.clone(), resources)).await?;
    let outcome = match tokens::write(&options.data_dir, &run_file.apps).await {
        Ok(path) => {
            tracing::info!(file = %path.display(), "api tokens of this run written");
            run_apps(&dapr, &run_file, shutdown).await
        }
        Err(error) => Err(error.into()),
    };
    dapr.shutdown().await;
    outcome
}

async fn run_apps(
    dapr: &LocalDapr,
    run_file: &RunFile,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let tasks = TaskTracker::new();
    let mut processes = Vec::new();
    let mut sidecars = Vec::new();
    let mut outcome = Ok(());
    for (index, app) in run_file.apps.iter().enumerate() {
        let sidecar = match dapr.add_app(app_spec(index, app)).await {
            Ok(sidecar) => sidecar,
            Err(error) => {
                outcome = Err(error.into());
                break;
            }
        };
        match start_app(app, sidecar.grpc_address, sidecar.http_address, &tasks) {
            Ok(process) => processes.extend(process),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
        sidecars.push(sidecar);
    }

    if outcome.is_ok() {
        // The futures borrow the processes; the block ends their borrow before stopping them.
        let all_connected =
            futures::future::join_all(sidecars.iter().map(|s| s.wait_app_connected()));
        let any_exited = first_exit(&mut processes);
        tokio::pin!(shutdown, any_exited);
        outcome = tokio::select! {
            () = &mut shutdown => Ok(()),
            exited = &mut any_exited => Err(exited),
            _ = all_connected => {
                tracing::info!(apps = run_file.apps.len(), "all apps are up");
                tokio::select! {
                    () = &mut shutdown => Ok(()),
                    exited = &mut any_exited => Err(exited),
                }
            }
        };
    }

    if let Err(error) = &outcome {
        tracing::error!(%error, "stopping the run");
    } else {
        tracing::info!("stopping: draining deliveries, then stopping the apps");
    }
    dapr.drain().await;
    stop_apps(&mut processes).await;
    for sidecar in &sidecars {
        sidecar.stop();
    }
    close_output(tasks).await;
    outcome
}

/// As `run_apps`, with a real daprd per app: daprd first, then its app; ready when every daprd
/// reports healthy (which needs its app); on shutdown each daprd stops (draining what it
/// delivers), then its app.
async fn run_apps_on_daprd(
    options: &DaprdOptions,
    run_file: &RunFile,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let tasks = TaskTracker::new();
    let mut processes = Vec::new();
    let mut sidecars: Vec<Daprd> = Vec::new();
    let mut outcome = Ok(());
    for (index, app) in run_file.apps.iter().enumerate() {
        let sidecar = match Daprd::start(options, &app_spec(index, app), &tasks).await {
            Ok(sidecar) => sidecar,
            Err(error) => {
                outcome = Err(error.into());
                break;
            }
        };
        let started = start_app(app, sidecar.grpc_address, sidecar.http_address, &tasks);
        sidecars.push(sidecar);
        match started {
            Ok(process) => processes.extend(process),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }

    if outcome.is_ok() {
        let all_ready = async {
            for sidecar in &mut sidecars {
                sidecar.wait_ready(DAPRD_READY_TIMEOUT).await?;
            }
            Ok::<(), DaprdError>(())
        };
        let any_exited = first_exit(&mut processes);
        tokio::pin!(shutdown, any_exited, all_ready);
        outcome = tokio::select! {
            () = &mut shutdown => Ok(()),
            exited = &mut any_exited => Err(exited),
            ready = &mut all_ready => match ready {
                Err(error) => Err(error.into()),
                Ok(()) => {
                    tracing::info!(apps = run_file.apps.len(), "all apps are up beside the real daprd");
                    tokio::select! {
                        () = &mut shutdown => Ok(()),
                        exited = &mut any_exited => Err(exited),
                    }
                }
            },
        };
    }

    if let Err(error) = &outcome {
        tracing::error!(%error, "stopping the run");
    } else {
        tracing::info!("stopping: each daprd, then the apps");
    }
    for sidecar in sidecars.iter_mut().rev() {
        let status = sidecar.process().stop(APP_STOP_GRACE).await;
        tracing::info!(app_id = sidecar.process().app_id, ?status, "daprd stopped");
    }
    stop_apps(&mut processes).await;
    close_output(tasks).await;
    outcome
}

/// Starts `app`'s command beside its sidecar (none for an app without a command).
fn start_app(
    app: &RunApp,
    sidecar: SocketAddr,
    sidecar_http: SocketAddr,
    tasks: &TaskTracker,
) -> Result<Option<AppProcess>, RunError> {
    if app.command.is_empty() {
        return Ok(None);
    }
    let launch = Launch {
        app_id: &app.app_id,
        command: &app.command,
        dir: &app.app_dir,
        env: &app.env,
        app_port: app.app_port,
        sidecar,
        sidecar_http,
    };
    AppProcess::start(&launch, tasks)
        .map(Some)
        .map_err(|source| RunError::Spawn {
            app_id: app.app_id.clone(),
            command: app.command.clone(),
            source,
        })
}

/// Stops the apps, the last started first.
async fn stop_apps(processes: &mut [AppProcess]) {
    for process in processes.iter_mut().rev() {
        let status = process.stop(APP_STOP_GRACE).await;
        tracing::info!(app_id = process.app_id, ?status, "app stopped");
    }
}

/// Waits, bounded, for the copying of the processes' output to end: their groups were killed,
/// so it ends, but a grandchild holding the pipe must not hold the runner.
async fn close_output(tasks: TaskTracker) {
    tasks.close();
    if tokio::time::timeout(OUTPUT_DRAIN_TIMEOUT, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("output still open after the run stopped; not waiting for it");
    }
}

/// The sidecar of the app at `index` in the run file. Its instance name (`{podName}`) is
/// `<app_id>-<index>`: stable across runs like a StatefulSet pod's, so a `{podName}` consumer
/// group is the same group the next time, not a new one per run.
fn app_spec(index: usize, app: &RunApp) -> AppSpec {
    let mut spec = AppSpec::new(app.app_id.clone(), app.app_port);
    spec.dapr_grpc_address = SocketAddr::from(([127, 0, 0, 1], app.dapr_grpc_port.unwrap_or(0)));
    spec.dapr_http_address = SocketAddr::from(([127, 0, 0, 1], app.dapr_http_port.unwrap_or(0)));
    spec.api_token = tokens::token(app, tokens::ENV_DAPR_API_TOKEN);
    spec.app_api_token = tokens::token(app, tokens::ENV_APP_API_TOKEN);
    spec.health_check = app.health_check;
    spec.instance_name = Some(format!("{}-{index}", app.app_id));
    spec
}

/// Resolves with the first app that exits.
async fn first_exit(processes: &mut [AppProcess]) -> RunError {
    if processes.is_empty() {
        return std::future::pending().await;
    }
    let waits = processes.iter_mut().map(|p| {
        Box::pin(async move {
            let status = p.wait().await;
            RunError::AppExited {
                app_id: p.app_id.clone(),
                status: status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            }
        })
    });
    futures::future::select_all(waits).await.0
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn each_app_gets_an_instance_name_stable_across_runs() {
        let run = RunFile::parse(
            "common: {resourcesPath: r}\napps: [{appID: sync}, {appID: audit, daprGRPCPort: 50070}]\n",
            Path::new("."),
        )
        .unwrap();
        let names: Vec<_> = run
            .apps
            .iter()
            .enumerate()
            .map(|(index, app)| app_spec(index, app).instance_name)
            .collect();
        assert_eq!(
            names,
            [Some("sync-0".to_string()), Some("audit-1".to_string())],
            "named by position in the run file, not by a (random) port"
        );
    }
}
