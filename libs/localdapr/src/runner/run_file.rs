//! Dapr's multi-app run file (`dapr run -f dapr.yaml`): the apps to start and how.
//! Fields localdapr does not use (log destinations, HTTP settings, …) are accepted and ignored.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::runtime::HealthCheckSpec;

/// Why a run file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// The file cannot be read.
    #[error("cannot read the run file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid run file.
    #[error("invalid run file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed run file, with paths resolved against its directory.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFile {
    /// Where the components and resiliency policies are.
    pub resources_path: PathBuf,
    /// The apps, in file order.
    pub apps: Vec<RunApp>,
}

/// One app of a run file.
#[derive(Clone, Debug, PartialEq)]
pub struct RunApp {
    /// The app id.
    pub app_id: String,
    /// The working directory of its command.
    pub app_dir: PathBuf,
    /// The app's gRPC port, if it serves one.
    pub app_port: Option<u16>,
    /// The sidecar's gRPC port; a free one when unset.
    pub dapr_grpc_port: Option<u16>,
    /// The sidecar's HTTP port (`daprHTTPPort`); a free one when unset.
    pub dapr_http_port: Option<u16>,
    /// The command and its arguments; an app without one is served a sidecar only.
    pub command: Vec<String>,
    /// The app's environment (common first, then the app's own).
    pub env: BTreeMap<String, String>,
    /// Health checks, when enabled.
    pub health_check: Option<HealthCheckSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRunFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    common: RawCommon,
    apps: Vec<RawApp>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCommon {
    #[serde(default)]
    resources_path: Option<String>,
    #[serde(default)]
    resources_paths: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    app_protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawApp {
    #[serde(rename = "appID")]
    app_id: String,
    #[serde(default)]
    app_dir_path: Option<String>,
    #[serde(default)]
    app_port: Option<u16>,
    #[serde(default)]
    app_protocol: Option<String>,
    #[serde(default, rename = "daprGRPCPort")]
    dapr_grpc_port: Option<u16>,
    #[serde(default, rename = "daprHTTPPort")]
    dapr_http_port: Option<u16>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    enable_app_health_check: bool,
    #[serde(default)]
    app_health_probe_interval: Option<u64>,
    #[serde(default)]
    app_health_probe_timeout: Option<u64>,
    #[serde(default)]
    app_health_threshold: Option<u32>,
}

impl RunFile {
    /// Reads and checks the run file at `path`.
    ///
    /// # Errors
    /// When it cannot be read, is not YAML of the run-file shape, or asks for something
    /// localdapr cannot do (an app protocol other than gRPC, a port used twice). An app id listed
    /// again is another replica of that app: its own ports and `{podName}`, the first's tokens.
    pub fn load(path: &Path) -> Result<Self, RunFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| RunFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &base).map_err(|reason| RunFileError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses run-file text whose relative paths are relative to `base`.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let raw: RawRunFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if let Some(version) = raw.version.filter(|v| *v != 1) {
            return Err(format!("version {version} is not supported (expected 1)"));
        }
        let resources = raw
            .common
            .resources_path
            .into_iter()
            .chain(raw.common.resources_paths)
            .collect::<Vec<_>>();
        let resources_path = match resources.as_slice() {
            [one] => base.join(one),
            [] => return Err("common.resourcesPath is required".into()),
            _ => return Err("localdapr reads a single resources path".into()),
        };
        let common_env = stringify_env(raw.common.env)?;
        let mut apps: Vec<RunApp> = Vec::with_capacity(raw.apps.len());
        for app in raw.apps {
            let protocol = app
                .app_protocol
                .or(raw.common.app_protocol.clone())
                .unwrap_or_else(|| "grpc".into());
            if protocol != "grpc" {
                return Err(format!(
                    "app {}: appProtocol {protocol} is not supported (localdapr serves gRPC apps)",
                    app.app_id
                ));
            }
            if let Some(port) = app.app_port
                && apps.iter().any(|a| a.app_port == Some(port))
            {
                return Err(format!("app {}: appPort {port} is used twice", app.app_id));
            }
            let mut env = common_env.clone();
            env.extend(stringify_env(app.env)?);
            let health_check = app.enable_app_health_check.then(|| {
                let defaults = HealthCheckSpec::default();
                HealthCheckSpec {
                    interval: app
                        .app_health_probe_interval
                        .map_or(defaults.interval, Duration::from_secs),
                    timeout: app
                        .app_health_probe_timeout
                        .map_or(defaults.timeout, Duration::from_millis),
                    threshold: app.app_health_threshold.unwrap_or(defaults.threshold),
                }
            });
            apps.push(RunApp {
                app_dir: base.join(app.app_dir_path.unwrap_or_else(|| ".".into())),
                app_id: app.app_id,
                app_port: app.app_port,
                dapr_grpc_port: app.dapr_grpc_port,
                dapr_http_port: app.dapr_http_port,
                command: app.command,
                env,
                health_check,
            });
        }
        if apps.is_empty() {
            return Err("no apps".into());
        }
        Ok(Self {
            resources_path,
            apps,
        })
    }
}

fn stringify_env(
    env: BTreeMap<String, serde_yaml_ng::Value>,
) -> Result<BTreeMap<String, String>, String> {
    env.into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                _ => return Err(format!("env {key} must be a string, number or boolean")),
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN_FILE: &str = r#"
version: 1
common:
  resourcesPath: ./dapr-components/local
  env:
    RUST_LOG: info
    SHARED: one
apps:
  - appID: todo-api
    appDirPath: ./services/todo-api
    appPort: 7001
    appProtocol: grpc
    command: ["target/debug/todo-api"]
    env:
      SHARED: two
      TODO_ADMIN_PORT: 9471
    enableAppHealthCheck: true
    appHealthProbeInterval: 2
  - appID: tool
    daprGRPCPort: 50099
    daprHTTPPort: 3599
    appLogDestination: console
"#;

    #[test]
    fn a_run_file_resolves_paths_and_merges_env() {
        let run = RunFile::parse(RUN_FILE, Path::new("/repo")).unwrap();
        assert_eq!(
            run.resources_path,
            Path::new("/repo/./dapr-components/local")
        );
        let api = &run.apps[0];
        assert_eq!(api.app_dir, Path::new("/repo/./services/todo-api"));
        assert_eq!(
            api.env.get("SHARED").map(String::as_str),
            Some("two"),
            "the app's env wins"
        );
        assert_eq!(api.env.get("RUST_LOG").map(String::as_str), Some("info"));
        assert_eq!(
            api.env.get("TODO_ADMIN_PORT").map(String::as_str),
            Some("9471")
        );
        assert_eq!(api.health_check.unwrap().interval, Duration::from_secs(2));
        let tool = &run.apps[1];
        assert_eq!(
            (
                tool.app_port,
                tool.dapr_grpc_port,
                tool.dapr_http_port,
                tool.command.len()
            ),
            (None, Some(50099), Some(3599), 0)
        );
        assert_eq!(api.dapr_http_port, None, "a free port when unset");
    }

    #[test]
    fn unusable_run_files_say_why() {
        let cases = [
            ("no resources", "apps: [{appID: a}]\n", "resourcesPath"),
            (
                "http app",
                "common: {resourcesPath: r}\napps: [{appID: a, appProtocol: http}]\n",
                "not supported",
            ),
            (
                "duplicate port",
                "common: {resourcesPath: r}\napps: [{appID: a, appPort: 1}, {appID: b, appPort: 1}]\n",
                "used twice",
            ),
            (
                "bad version",
                "version: 2\ncommon: {resourcesPath: r}\napps: [{appID: a}]\n",
                "version 2",
            ),
            (
                "no apps",
                "common: {resourcesPath: r}\napps: []\n",
                "no apps",
            ),
        ];
        for (case, text, expected) in cases {
            let error = RunFile::parse(text, Path::new(".")).unwrap_err();
            assert!(error.contains(expected), "case {case}: {error}");
        }
    }
}
